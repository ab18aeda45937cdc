import { randomUUID } from 'node:crypto';
import {
  INPUT_EVENT_TYPES,
  type Actor,
  type Decision,
  type EventMetadata,
  type WorkloadInput,
  type WorkloadSetup,
} from '@drc/contracts';
import type { NewEvent } from '@drc/event-store';
import { STATECHART_VERSION } from '@drc/statecharts';

/** Stored type of a workload stream's first event: the machine's setup. */
export const WORKLOAD_REGISTERED = 'WorkloadRegistered';
export const STATE_CHANGED = 'WorkloadStateChanged';

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
  stateBefore: string;
  stateAfter: string;
  epoch: number;
  primarySite: string;
}): NewEvent[] {
  const inputId = randomUUID();
  const base = { at: args.input.at, stateAfter: args.stateAfter };
  const events: NewEvent[] = [
    { id: inputId, type: INPUT_EVENT_TYPES[args.input.type], data: args.input, metadata: metadata(args.writer, args.origin, base) },
  ];
  const caused = { ...base, causationId: inputId };
  const decisionOrigin: Origin = { ...args.origin, actor: { kind: 'coordinator', id: args.writer.coordinatorId } };
  if (!args.origin.correlationId) decisionOrigin.correlationId = events[0]!.metadata.correlationId;
  for (const d of args.decisions) {
    events.push({ id: randomUUID(), type: d.type, data: d, metadata: metadata(args.writer, decisionOrigin, caused) });
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
export function registrationEvent(writer: Writer, setup: WorkloadSetup, state: string): NewEvent {
  return {
    id: randomUUID(),
    type: WORKLOAD_REGISTERED,
    data: setup,
    metadata: metadata(writer, { actor: { kind: 'coordinator', id: writer.coordinatorId } }, { at: setup.at, stateAfter: state }),
  };
}
