import { WorkloadInputSchema, WorkloadSetupSchema, type Policy } from '@drc/contracts';
import { decideWorkload, startWorkload, stateOf, STATECHART_VERSION, type Effect } from '@drc/statecharts';
import { INPUT_TYPES, STATE_CHANGED, TIMER_CANCELLED, TIMER_SCHEDULED, WORKLOAD_REGISTERED, type HistoryEvent } from './fold';

export interface ReplayMismatch {
  stream: string;
  /** Position of the input whose replayed outcome differs from the recorded one. */
  position: number;
  kind: 'decisions' | 'state' | 'version' | 'unparseable';
  recorded: unknown;
  replayed: unknown;
}

export interface ReplayReport {
  stream: string;
  inputs: number;
  mismatches: ReplayMismatch[];
  statechartVersions: string[];
}

/** Pure. Canonical JSON: object keys sorted, so equal values compare equal as strings. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as Record<string, unknown>)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The recorded outputs of one step, in the same shape replay produces. */
function outputsOf(events: ReadonlyArray<HistoryEvent>): unknown[] {
  return events.filter((e) => e.type !== STATE_CHANGED).map((e) => e.data);
}

function replayedOutputs(at: number, effects: ReadonlyArray<Effect>): unknown[] {
  const out: unknown[] = [];
  for (const e of effects) if (e.kind === 'decision') out.push(e.decision);
  for (const e of effects) {
    if (e.kind === 'schedule') out.push({ type: TIMER_SCHEDULED, timerId: e.timerId, delayMs: e.delayMs, dueAt: at + e.delayMs });
    else if (e.kind === 'cancel') out.push({ type: TIMER_CANCELLED, timerId: e.timerId });
  }
  return out;
}

/**
 * Pure. Folds a workload stream through the current statechart and checks that every recorded
 * decision, timer and state is reproduced (invariant 4). `policy` replays with another policy
 * (to show where a change would diverge). Mismatches name the input's position.
 */
export function verifyReplay(events: ReadonlyArray<HistoryEvent>, options: { policy?: Partial<Policy>; maxMismatches?: number } = {}): ReplayReport {
  const stream = events[0]?.stream ?? '(unknown)';
  const report: ReplayReport = { stream, inputs: 0, mismatches: [], statechartVersions: [] };
  const max = options.maxMismatches ?? 50;
  const first = events[0];
  if (!first || first.type !== WORKLOAD_REGISTERED) {
    report.mismatches.push({ stream, position: first?.position ?? 0, kind: 'unparseable', recorded: first?.type ?? null, replayed: WORKLOAD_REGISTERED });
    return report;
  }
  const versions = new Set<string>();
  for (const e of events) if (typeof e.metadata?.statechartVersion === 'string') versions.add(e.metadata.statechartVersion);
  report.statechartVersions = [...versions];
  for (const v of versions) {
    if (v !== STATECHART_VERSION) {
      report.mismatches.push({ stream, position: first.position, kind: 'version', recorded: v, replayed: STATECHART_VERSION });
    }
  }
  const setup = WorkloadSetupSchema.parse(first.data);
  const start = startWorkload(options.policy ? { ...setup, policy: { ...setup.policy, ...options.policy } } : setup);
  let snapshot = start.snapshot;
  // Group each input with the outputs recorded right after it.
  let i = 1;
  while (i < events.length && !INPUT_TYPES.has(events[i]!.type)) i++;
  const startOutputs = outputsOf(events.slice(1, i));
  if (canonicalJson(startOutputs) !== canonicalJson(replayedOutputs(setup.at, start.effects))) {
    report.mismatches.push({ stream, position: first.position, kind: 'decisions', recorded: startOutputs, replayed: replayedOutputs(setup.at, start.effects) });
  }
  while (i < events.length && report.mismatches.length < max) {
    const ev = events[i]!;
    let j = i + 1;
    while (j < events.length && !INPUT_TYPES.has(events[j]!.type)) j++;
    const parsed = WorkloadInputSchema.safeParse(ev.data);
    if (!parsed.success) {
      report.mismatches.push({ stream, position: ev.position, kind: 'unparseable', recorded: ev.data, replayed: parsed.error.issues[0]?.message });
      break;
    }
    report.inputs++;
    const step = decideWorkload(snapshot, parsed.data);
    snapshot = step.snapshot;
    const recorded = outputsOf(events.slice(i + 1, j));
    const replayed = replayedOutputs(parsed.data.at, step.effects);
    if (canonicalJson(recorded) !== canonicalJson(replayed)) {
      report.mismatches.push({ stream, position: ev.position, kind: 'decisions', recorded, replayed });
    }
    const recordedState = ev.metadata?.stateAfter;
    if (recordedState !== undefined && recordedState !== stateOf(snapshot)) {
      report.mismatches.push({ stream, position: ev.position, kind: 'state', recorded: recordedState, replayed: stateOf(snapshot) });
    }
    i = j;
  }
  return report;
}
