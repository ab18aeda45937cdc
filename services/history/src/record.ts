import { randomUUID } from 'node:crypto';
import {
  INPUT_EVENT_TYPES,
  type Actor,
  type Decision,
  type EventMetadata,
  type WorkloadInput,
  type WorkloadSetup,
} from '@drc/contracts';
import { STATECHART_VERSION } from '@drc/statecharts';

import { STATE_CHANGED, TIMER_CANCELLED, TIMER_SCHEDULED, WORKLOAD_REGISTERED } from './fold';

/** An event to append (structurally the event store's RecordedEvent). */
export interface RecordedEvent {
  id: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
}

export interface Writer {
  coordinatorId: string;
  leaderEpoch: number;
}

export interface Origin {
  actor: Actor;
  correlationId?: string | undefined;
  traceId?: string | undefined;
}

function metadata(writer: Writer, origin: Origin, extra: Partial<EventMetadata>): EventMetadata {
  return {
    correlationId: origin.correlationId ?? randomUUID(),
    actor: origin.actor,
    coordinatorId: writer.coordinatorId,
    leaderEpoch: writer.leaderEpoch,
    statechartVersion: STATECHART_VERSION,
    ...(origin.traceId ? { traceId: origin.traceId } : {}),
    ...extra,
  };
}

/** Not pure (random ids). The events one processed input produces, in the order they are appended. */
export function eventsForStep(args: {
  writer: Writer;
  origin: Origin;
  input: WorkloadInput;
  decisions: Decision[];
  /** Timers armed or cancelled by this step (recorded so replay can check them too). */
  timers?: Array<{ kind: 'schedule'; timerId: string; delayMs: number } | { kind: 'cancel'; timerId: string }>;
  stateBefore: string;
  stateAfter: string;
  epoch: number;
  primarySite: string;
}): RecordedEvent[] {
  const inputId = randomUUID();
  const base = { at: args.input.at, stateAfter: args.stateAfter };
  const events: RecordedEvent[] = [
    { id: inputId, type: INPUT_EVENT_TYPES[args.input.type], data: args.input, metadata: metadata(args.writer, args.origin, base) },
  ];
  const caused = { ...base, causationId: inputId };
  const decisionOrigin: Origin = { ...args.origin, actor: { kind: 'coordinator', id: args.writer.coordinatorId } };
  if (!args.origin.correlationId) decisionOrigin.correlationId = events[0]!.metadata.correlationId;
  for (const d of args.decisions) {
    events.push({ id: randomUUID(), type: d.type, data: d, metadata: metadata(args.writer, decisionOrigin, caused) });
  }
  for (const t of args.timers ?? []) {
    const data =
      t.kind === 'schedule'
        ? { type: TIMER_SCHEDULED, timerId: t.timerId, delayMs: t.delayMs, dueAt: args.input.at + t.delayMs }
        : { type: TIMER_CANCELLED, timerId: t.timerId };
    events.push({ id: randomUUID(), type: data.type, data, metadata: metadata(args.writer, decisionOrigin, caused) });
  }
  if (args.stateBefore !== args.stateAfter) {
    events.push({
      id: randomUUID(),
      type: STATE_CHANGED,
      data: { type: STATE_CHANGED, from: args.stateBefore, to: args.stateAfter, epoch: args.epoch, primarySite: args.primarySite },
      metadata: metadata(args.writer, decisionOrigin, caused),
    });
  }
  return events;
}

/** Not pure (random id). The first event of a workload stream. */
export function registrationEvent(writer: Writer, setup: WorkloadSetup, state: string): RecordedEvent {
  return {
    id: randomUUID(),
    type: WORKLOAD_REGISTERED,
    data: setup,
    metadata: metadata(writer, { actor: { kind: 'coordinator', id: writer.coordinatorId } }, { at: setup.at, stateAfter: state }),
  };
}
