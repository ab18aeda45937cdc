import { WorkloadInputSchema, WorkloadSetupSchema, INPUT_EVENT_TYPES, type CommandRequest, type WorkloadInput } from '@drc/contracts';
import { decideWorkload, startWorkload, type Effect, type WorkloadSnapshot } from '@drc/statecharts';

/** Stored type of a workload stream's first event: the machine's setup. */
export const WORKLOAD_REGISTERED = 'WorkloadRegistered';
/** Recorded by the runtime after every input that changed the state value. */
export const STATE_CHANGED = 'WorkloadStateChanged';
/** Recorded when a step armed or cancelled one of the machine's timers. */
export const TIMER_SCHEDULED = 'TimerScheduled';
export const TIMER_CANCELLED = 'TimerCancelled';

/** The part of a stored event the fold reads (any adapter's StoredEvent fits). */
export interface HistoryEvent {
  stream?: string;
  position: number;
  type: string;
  data: unknown;
  metadata?: { stateAfter?: string | undefined; statechartVersion?: string; [k: string]: unknown };
}

export const INPUT_TYPES: ReadonlySet<string> = new Set<string>(Object.values(INPUT_EVENT_TYPES));

export interface PendingTimer {
  timerId: string;
  event: { type: string };
  dueAt: number;
}

export interface PendingCommand {
  request: CommandRequest;
  issuedAt: number;
}

/** Everything the runtime needs to go on from a stream: the machine state and the effects not yet settled. */
export interface Folded {
  snapshot: WorkloadSnapshot;
  version: number;
  timers: Map<string, PendingTimer>;
  commands: Map<string, PendingCommand>;
}

/** Pure. Applies a step's effects to the pending sets (what the runtime will re-arm after a restart). */
export function settle(folded: Pick<Folded, 'timers' | 'commands'>, input: WorkloadInput, effects: ReadonlyArray<Effect>): void {
  if (input.type === 'TIMER_FIRED') folded.timers.delete(input.timerId);
  if (input.type === 'COMMAND_RESULT') folded.commands.delete(input.commandId);
  for (const e of effects) {
    if (e.kind === 'schedule') folded.timers.set(e.timerId, { timerId: e.timerId, event: e.event, dueAt: input.at + e.delayMs });
    else if (e.kind === 'cancel') folded.timers.delete(e.timerId);
    else if (e.decision.type === 'CommandIssued') folded.commands.set(e.decision.command.commandId, { request: e.decision.command, issuedAt: input.at });
  }
}

/**
 * Pure. Folds a workload stream through the statechart: the same code decides live and replays.
 * Throws if the stream does not start with WorkloadRegistered or holds an input that no longer parses.
 */
export function foldWorkloadStream(events: ReadonlyArray<HistoryEvent>): Folded {
  const first = events[0];
  if (!first || first.type !== WORKLOAD_REGISTERED) {
    throw new Error(`stream ${first?.stream ?? '(empty)'} does not start with ${WORKLOAD_REGISTERED}`);
  }
  const setup = WorkloadSetupSchema.parse(first.data);
  const start = startWorkload(setup);
  const folded: Folded = { snapshot: start.snapshot, version: first.position, timers: new Map(), commands: new Map() };
  settle(folded, { type: 'PRIMARY_RECOVERED', at: setup.at, siteId: setup.primarySite }, start.effects);
  return foldWorkloadTail(folded, events.slice(1));
}

/**
 * Pure. Continues a fold (from a snapshot, say) with the events after it; events at or before
 * `start.version` are skipped. Throws if an input no longer parses. Mutates and returns `start`.
 */
export function foldWorkloadTail(start: Folded, events: ReadonlyArray<HistoryEvent>): Folded {
  for (const ev of events) {
    if (ev.position <= start.version) continue;
    start.version = ev.position;
    if (!INPUT_TYPES.has(ev.type)) continue; // decisions and state changes are outputs, not inputs
    const input = WorkloadInputSchema.parse(ev.data);
    const step = decideWorkload(start.snapshot, input);
    start.snapshot = step.snapshot;
    settle(start, input, step.effects);
  }
  return start;
}
