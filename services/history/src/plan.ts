import { randomUUID } from 'node:crypto';
import { PlanRunInputSchema, PlanRunSetupSchema, type EventMetadata, type PlanDecision, type PlanRunInput, type PlanRunSetup } from '@drc/contracts';
import { decidePlanRun, PLAN_STATECHART_VERSION, startPlanRun, type PlanRunSnapshot } from '@drc/statecharts';
import type { Origin, RecordedEvent, Writer } from './record';

/**
 * The record format of a plan run's stream: `PlanRunCreated` (the compiled steps, so a replay
 * never depends on today's config), then per input `PlanInputReceived` followed by the
 * decisions it caused, each its own event type (`StepStarted`, `StepCompleted`, …).
 */
export const PLAN_RUN_CREATED = 'PlanRunCreated';
export const PLAN_INPUT_RECEIVED = 'PlanInputReceived';

function metadata(writer: Writer, origin: Origin, at: number, state: string, extra: Partial<EventMetadata> = {}): EventMetadata {
  return {
    correlationId: origin.correlationId ?? randomUUID(),
    actor: origin.actor,
    coordinatorId: writer.coordinatorId,
    leaderEpoch: writer.leaderEpoch,
    statechartVersion: PLAN_STATECHART_VERSION,
    at,
    stateAfter: state,
    ...(origin.traceId ? { traceId: origin.traceId } : {}),
    ...extra,
  };
}

/** Not pure (random ids). The events that open a run: its setup and the decisions of starting it. */
export function planRunOpeningEvents(writer: Writer, origin: Origin, setup: PlanRunSetup, decisions: PlanDecision[], state: string): RecordedEvent[] {
  const first: RecordedEvent = { id: randomUUID(), type: PLAN_RUN_CREATED, data: setup, metadata: metadata(writer, origin, setup.at, state) };
  const caused = { ...origin, correlationId: first.metadata.correlationId };
  return [first, ...decisions.map((d) => ({ id: randomUUID(), type: d.type, data: d, metadata: metadata(writer, caused, setup.at, state, { causationId: first.id }) }))];
}

/** Not pure (random ids). The events of one processed input: the input, then its decisions. */
export function planEventsForInput(writer: Writer, origin: Origin, input: PlanRunInput, decisions: PlanDecision[], state: string): RecordedEvent[] {
  const first: RecordedEvent = { id: randomUUID(), type: PLAN_INPUT_RECEIVED, data: input, metadata: metadata(writer, origin, input.at, state) };
  const caused = { ...origin, correlationId: first.metadata.correlationId };
  return [first, ...decisions.map((d) => ({ id: randomUUID(), type: d.type, data: d, metadata: metadata(writer, caused, input.at, state, { causationId: first.id }) }))];
}

export interface FoldedPlanRun {
  snapshot: PlanRunSnapshot;
  version: number;
  /** Recorded decisions, in order (for replay checks and reports). */
  decisions: PlanDecision[];
}

/**
 * Pure. Rebuilds a run from its stream by feeding the recorded inputs to the plan machine
 * (decisions are recomputed, not trusted). Undefined for an empty stream; throws naming the
 * position when the stream does not start with PlanRunCreated or holds a malformed input.
 */
export function foldPlanRunStream(events: ReadonlyArray<{ type: string; data: unknown; position: number }>, upTo = Infinity): FoldedPlanRun | undefined {
  if (events.length === 0) return undefined;
  const [head, ...rest] = events;
  if (head!.type !== PLAN_RUN_CREATED) throw new Error(`plan run stream: position ${head!.position} is ${head!.type}, expected ${PLAN_RUN_CREATED}`);
  const started = startPlanRun(PlanRunSetupSchema.parse(head!.data));
  let snapshot = started.snapshot;
  const decisions = [...started.decisions];
  let version = head!.position;
  for (const e of rest) {
    if (e.type === PLAN_INPUT_RECEIVED) {
      const parsed = PlanRunInputSchema.safeParse(e.data);
      if (!parsed.success) throw new Error(`plan run stream: position ${e.position}: malformed input (${parsed.error.issues[0]?.message})`);
      if (parsed.data.at > upTo) break;
      const step = decidePlanRun(snapshot, parsed.data);
      snapshot = step.snapshot;
      decisions.push(...step.decisions);
    }
    version = e.position;
  }
  return { snapshot, version, decisions };
}
