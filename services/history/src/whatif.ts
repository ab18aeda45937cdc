import { WorkloadInputSchema, WorkloadSetupSchema, type Decision, type Policy, type WorkloadInput } from '@drc/contracts';
import { decideWorkload, startWorkload, stateOf, type Effect } from '@drc/statecharts';
import { INPUT_TYPES, WORKLOAD_REGISTERED, type HistoryEvent } from './fold';

/** Decisions worth comparing between two worlds. */
const NOTABLE = new Set<Decision['type']>([
  'FailoverStarted',
  'ApprovalRequired',
  'FenceConfirmed',
  'PromoteConfirmed',
  'FailoverCompleted',
  'FailoverAborted',
  'FailoverSuppressed',
  'Escalated',
  'ReprotectStarted',
  'ReprotectCompleted',
]);

export interface TimelineEntry {
  at: number;
  type: Decision['type'];
  detail: string;
}

export interface WhatIfReport {
  stream: string;
  policy: Partial<Policy>;
  baseline: TimelineEntry[];
  alternative: TimelineEntry[];
  /** Human-readable differences, e.g. "failover would not have started (recorded at …)". */
  differences: string[];
  /** Results the alternative world needed but history does not hold (assumed to succeed). */
  assumptions: string[];
  finalState: { baseline: string; alternative: string };
}

interface Pending {
  at: number;
  seq: number;
  input: WorkloadInput;
}

function describe(d: Decision): string {
  switch (d.type) {
    case 'FailoverStarted':
      return `${d.mode} failover from ${d.fromSite}: ${d.reason}`;
    case 'FailoverCompleted':
      return `${d.fromSite} → ${d.toSite}, epoch ${d.epoch}, RTO ${d.rtoMs} ms`;
    case 'ApprovalRequired':
      return d.reason;
    case 'Escalated':
      return `${d.step}: ${d.reason}`;
    case 'FailoverSuppressed':
      return d.reason;
    default:
      return 'siteId' in d && typeof d.siteId === 'string' ? d.siteId : '';
  }
}

/**
 * Pure. Re-runs the recorded EXTERNAL inputs of a stream (observations, site status, operator
 * commands) through the statechart with a changed policy, on a simulated clock: the machine's
 * own timers fire at their simulated due time, and command results are taken from history
 * when the same command was issued, else assumed to succeed after the recorded latency of
 * that action. The same simulation with the recorded policy is the baseline, so the two are
 * compared like for like. Never touches a store.
 */
export function whatIf(events: ReadonlyArray<HistoryEvent>, policy: Partial<Policy>, range: { from?: number; to?: number } = {}): WhatIfReport {
  const first = events[0];
  if (!first || first.type !== WORKLOAD_REGISTERED) throw new Error('stream does not start with WorkloadRegistered');
  const setup = WorkloadSetupSchema.parse(first.data);
  const external: WorkloadInput[] = [];
  const results = new Map<string, { latencyMs: number; input: Extract<WorkloadInput, { type: 'COMMAND_RESULT' }> }>();
  const issuedAt = new Map<string, number>();
  const latencyByAction = new Map<string, number>();
  for (const e of events.slice(1)) {
    if (e.type === 'CommandIssued') {
      const cmd = (e.data as { command?: { commandId?: string } }).command;
      const at = typeof e.metadata?.at === 'number' ? e.metadata.at : undefined;
      if (cmd?.commandId && at !== undefined) issuedAt.set(cmd.commandId, at);
    }
    if (!INPUT_TYPES.has(e.type)) continue;
    const parsed = WorkloadInputSchema.safeParse(e.data);
    if (!parsed.success) continue;
    const input = parsed.data;
    if (input.type === 'TIMER_FIRED') continue; // the simulation fires its own timers
    if (input.type === 'COMMAND_RESULT') {
      const latency = Math.max(0, input.at - (issuedAt.get(input.commandId) ?? input.at));
      results.set(input.commandId, { latencyMs: latency, input });
      if (!latencyByAction.has(input.action)) latencyByAction.set(input.action, latency);
      continue;
    }
    if (range.from !== undefined && input.at < range.from) continue;
    if (range.to !== undefined && input.at > range.to) continue;
    external.push(input);
  }
  const horizon = Math.max(setup.at, ...external.map((i) => i.at)) + 3_600_000;

  const simulate = (p: Policy) => {
    const assumptions: string[] = [];
    const timeline: TimelineEntry[] = [];
    let snapshot = startWorkload({ ...setup, policy: p }).snapshot;
    const queue: Pending[] = external.map((input, seq) => ({ at: input.at, seq, input }));
    let seq = queue.length;
    const timers = new Map<string, number>(); // timerId → seq of its pending entry
    const apply = (input: WorkloadInput, effects: ReadonlyArray<Effect>) => {
      for (const e of effects) {
        if (e.kind === 'schedule') {
          const s = seq++;
          timers.set(e.timerId, s);
          queue.push({ at: input.at + e.delayMs, seq: s, input: { type: 'TIMER_FIRED', at: input.at + e.delayMs, timerId: e.timerId, event: e.event } });
        } else if (e.kind === 'cancel') {
          timers.delete(e.timerId);
        } else {
          const d = e.decision;
          if (NOTABLE.has(d.type)) timeline.push({ at: input.at, type: d.type, detail: describe(d) });
          if (d.type === 'CommandIssued') {
            const known = results.get(d.command.commandId);
            const latency = known?.latencyMs ?? latencyByAction.get(d.command.action) ?? 0;
            if (!known) assumptions.push(`${d.command.action} on ${d.command.siteId} (${d.command.commandId}) assumed to succeed after ${latency} ms`);
            const at = input.at + latency;
            queue.push({
              at,
              seq: seq++,
              input: known
                ? { ...known.input, at }
                : { type: 'COMMAND_RESULT', at, commandId: d.command.commandId, siteId: d.command.siteId, action: d.command.action, epoch: d.command.epoch, status: 'done', detail: {} },
            });
          }
        }
      }
    };
    apply({ type: 'PRIMARY_RECOVERED', at: setup.at, siteId: setup.primarySite }, startWorkload({ ...setup, policy: p }).effects);
    for (let steps = 0; queue.length > 0 && steps < 100_000; steps++) {
      queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = queue.shift()!;
      if (next.at > horizon) break;
      if (next.input.type === 'TIMER_FIRED' && timers.get(next.input.timerId) !== next.seq) continue; // cancelled or re-armed
      if (next.input.type === 'TIMER_FIRED') timers.delete(next.input.timerId);
      // History holds the health of the primary of ITS world. Where this world's primary is
      // another site, that site's recorded health reports (of a running copy) stand for what the
      // coordinator would have reported as a primary failure or recovery.
      const derived = primaryHealthInput(snapshot.context, next.input);
      if (derived) {
        assumptions.push(`${derived.siteId}'s recorded health taken as a primary ${derived.type === 'PRIMARY_FAILED' ? 'failure' : 'recovery'} (it is the primary in this world)`);
        const d = decideWorkload(snapshot, derived);
        snapshot = d.snapshot;
        apply(derived, d.effects);
      }
      const step = decideWorkload(snapshot, next.input);
      snapshot = step.snapshot;
      apply(next.input, step.effects);
    }
    return { timeline, assumptions, state: stateOf(snapshot) };
  };

  const base = simulate(setup.policy);
  const alt = simulate({ ...setup.policy, ...policy });
  return {
    stream: first.stream ?? `workload-${setup.workloadId}`,
    policy,
    baseline: base.timeline,
    alternative: alt.timeline,
    differences: compareTimelines(base.timeline, alt.timeline),
    assumptions: [...new Set(alt.assumptions)],
    finalState: { baseline: base.state, alternative: alt.state },
  };
}

/**
 * Pure. The primary failure or recovery a health report implies in the simulated world: a
 * running copy at the simulated primary's site reported unhealthy while the primary counts as
 * healthy, or healthy while it counts as failed. Undefined when the report agrees.
 */
function primaryHealthInput(ctx: { primarySite: string; primaryFailed: boolean }, input: WorkloadInput): Extract<WorkloadInput, { type: 'PRIMARY_FAILED' | 'PRIMARY_RECOVERED' }> | undefined {
  if (input.type !== 'REPLICA_STATUS' || input.siteId !== ctx.primarySite) return undefined;
  if (input.role !== undefined && input.role !== 'primary' && input.role !== 'replica') return undefined; // a fenced or stopped copy says nothing
  if (!input.healthy && !ctx.primaryFailed) return { type: 'PRIMARY_FAILED', at: input.at, siteId: input.siteId, reason: 'unhealthy', evidence: ['recorded health report of this site (what-if)'] };
  if (input.healthy && ctx.primaryFailed) return { type: 'PRIMARY_RECOVERED', at: input.at, siteId: input.siteId };
  return undefined;
}

/** Pure. Pairs decisions of the same type in order and says how they differ. */
export function compareTimelines(base: ReadonlyArray<TimelineEntry>, alt: ReadonlyArray<TimelineEntry>): string[] {
  const out: string[] = [];
  const types = new Set([...base.map((e) => e.type), ...alt.map((e) => e.type)]);
  const iso = (t: number) => new Date(t).toISOString();
  for (const type of types) {
    const b = base.filter((e) => e.type === type);
    const a = alt.filter((e) => e.type === type);
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const x = b[i];
      const y = a[i];
      const label = n > 1 ? `${type} #${i + 1}` : type;
      if (x && !y) out.push(`${label} would not have happened (recorded at ${iso(x.at)}: ${x.detail})`);
      else if (!x && y) out.push(`${label} would have happened at ${iso(y.at)}: ${y.detail}`);
      else if (x && y && x.at !== y.at) {
        const d = (y.at - x.at) / 1000;
        out.push(`${label} would have come ${Math.abs(d)} s ${d > 0 ? 'later' : 'earlier'} (${iso(y.at)} instead of ${iso(x.at)})`);
      } else if (x && y && x.detail !== y.detail) out.push(`${label} would have differed: ${y.detail} instead of ${x.detail}`);
    }
  }
  return out;
}
