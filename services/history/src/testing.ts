import { DEFAULT_POLICY, type WorkloadInput, type WorkloadSetup } from '@drc/contracts';
import { decideWorkload, startWorkload, stateOf, viewWorkload } from '@drc/statecharts';
import type { HistoryEvent } from './fold';
import { eventsForStep, registrationEvent, type Writer } from './record';

/**
 * Not pure (random ids). Records a workload stream exactly as the coordinator's runner does,
 * without a store: for tests and benchmarks of replay, history and what-if.
 */
export function recordStream(setup: WorkloadSetup, inputs: ReadonlyArray<WorkloadInput>, writer: Writer = { coordinatorId: 'test', leaderEpoch: 1 }): HistoryEvent[] {
  const stream = `workload-${setup.workloadId}`;
  const start = startWorkload(setup);
  const out: HistoryEvent[] = [];
  const push = (e: { type: string; data: unknown; metadata: HistoryEvent['metadata'] }) => out.push({ stream, position: out.length + 1, type: e.type, data: e.data, metadata: e.metadata });
  push(registrationEvent(writer, setup, stateOf(start.snapshot)));
  let snapshot = start.snapshot;
  for (const input of inputs) {
    const before = stateOf(snapshot);
    const step = decideWorkload(snapshot, input);
    snapshot = step.snapshot;
    const view = viewWorkload(snapshot);
    const events = eventsForStep({
      writer,
      origin: { actor: { kind: 'system', id: 'test' } },
      input,
      decisions: step.effects.flatMap((e) => (e.kind === 'decision' ? [e.decision] : [])),
      timers: step.effects.flatMap((e): Array<{ kind: 'schedule'; timerId: string; delayMs: number } | { kind: 'cancel'; timerId: string }> =>
        e.kind === 'schedule' ? [{ kind: 'schedule', timerId: e.timerId, delayMs: e.delayMs }] : e.kind === 'cancel' ? [{ kind: 'cancel', timerId: e.timerId }] : [],
      ),
      stateBefore: before,
      stateAfter: stateOf(snapshot),
      epoch: view.epoch,
      primarySite: view.primarySite,
    });
    for (const e of events) push(e);
  }
  return out;
}

/**
 * Pure. The inputs a live runtime would record for `external` inputs: the machine's timers
 * fire at their due time and every command succeeds `commandLatencyMs` after it is issued
 * (a command to a site in `deadSites` never answers). For tests and benchmarks.
 */
export function simulateInputs(
  setup: WorkloadSetup,
  external: ReadonlyArray<WorkloadInput>,
  opts: { commandLatencyMs?: number; deadSites?: string[]; until?: number } = {},
): WorkloadInput[] {
  const latency = opts.commandLatencyMs ?? 100;
  const dead = new Set(opts.deadSites ?? []);
  const inputs: WorkloadInput[] = [];
  let snap = startWorkload(setup).snapshot;
  const queue: WorkloadInput[] = [...external];
  const timers = new Map<string, number>();
  const until = opts.until ?? Math.max(setup.at, ...external.map((e) => e.at)) + 600_000;
  const apply = (at: number, effects: ReturnType<typeof decideWorkload>['effects']) => {
    for (const e of effects) {
      if (e.kind === 'schedule') {
        timers.set(e.timerId, at + e.delayMs);
        queue.push({ type: 'TIMER_FIRED', at: at + e.delayMs, timerId: e.timerId, event: e.event });
      } else if (e.kind === 'cancel') timers.delete(e.timerId);
      else if (e.decision.type === 'CommandIssued' && !dead.has(e.decision.command.siteId)) {
        const c = e.decision.command;
        queue.push({ type: 'COMMAND_RESULT', at: at + latency, commandId: c.commandId, siteId: c.siteId, action: c.action, epoch: c.epoch, status: 'done', detail: {} });
        if (c.action === 'promote') queue.push({ type: 'REPLICA_STATUS', at: at + latency + 1, siteId: c.siteId, healthy: true, role: 'primary', position: String(at), lagSeconds: 0 });
      }
    }
  };
  for (let steps = 0; queue.length > 0 && steps < 10_000; steps++) {
    queue.sort((a, b) => a.at - b.at);
    const next = queue.shift()!;
    if (next.at > until) break;
    if (next.type === 'TIMER_FIRED' && timers.get(next.timerId) !== next.at) continue;
    if (next.type === 'TIMER_FIRED') timers.delete(next.timerId);
    inputs.push(next);
    const step = decideWorkload(snap, next);
    snap = step.snapshot;
    apply(next.at, step.effects);
  }
  return inputs;
}

/**
 * Not pure (random ids). A recorded site loss, for integration tests and benchmarks. Sites A
 * (primary), B, C. `samples` replication readings of B and C, one a second after `at`; then, from
 * `failedAt`, the episode: A's primary reported failed, site A lost 300 ms later (lease expired
 * at +900 ms, fenced by expiry after the 200 ms margin), the 1 s debounce ends, and B (the most
 * advanced copy, 100 positions behind A, lag 0.5 s) is promoted and verified: RTO 300 ms.
 * Commands succeed 100 ms after they are sent, except to A, which is dark.
 */
export function recordSiteLoss(o: { workloadId: string; at: number; samples?: number; policy?: Partial<WorkloadSetup['policy']> }): { setup: WorkloadSetup; events: HistoryEvent[]; failedAt: number } {
  const samples = o.samples ?? 0;
  const setup: WorkloadSetup = {
    workloadId: o.workloadId,
    primarySite: 'A',
    sites: [
      { siteId: 'A', priority: 1 },
      { siteId: 'B', priority: 2 },
      { siteId: 'C', priority: 3 },
    ],
    policy: { ...DEFAULT_POLICY, debounceMs: 1000, fenceMarginMs: 200, ...o.policy },
    epoch: 0,
    at: o.at,
  };
  const readings: WorkloadInput[] = [];
  for (let i = 1; i <= samples; i++) {
    readings.push({ type: 'REPLICA_STATUS', at: o.at + i * 1000, siteId: i % 2 ? 'B' : 'C', healthy: true, role: 'replica', position: String(i), lagSeconds: 0.2 });
  }
  const t = o.at + (samples + 1) * 1000;
  const p = samples;
  const episode = simulateInputs(
    setup,
    [
      { type: 'REPLICA_STATUS', at: t + 10, siteId: 'A', healthy: true, role: 'primary', position: String(p + 5000), lagSeconds: 0 },
      { type: 'REPLICA_STATUS', at: t + 20, siteId: 'B', healthy: true, role: 'replica', position: String(p + 4900), lagSeconds: 0.5 },
      { type: 'REPLICA_STATUS', at: t + 30, siteId: 'C', healthy: true, role: 'replica', position: String(p + 4800), lagSeconds: 1 },
      { type: 'PRIMARY_FAILED', at: t + 1000, siteId: 'A', reason: 'unhealthy', evidence: ['probe failed: connection refused'] },
      { type: 'SITE_STATUS', at: t + 1300, siteId: 'A', status: 'lost', leaseExpiredAt: t + 1900, evidence: ['witness C cannot reach A'] },
      { type: 'PRIMARY_FAILED', at: t + 1300, siteId: 'A', reason: 'siteLost', evidence: ['lease expired'], leaseExpiredAt: t + 1900 },
    ],
    { deadSites: ['A'], until: t + 120_000 },
  );
  return { setup, events: recordStream(setup, [...readings, ...episode]), failedAt: t + 1000 };
}

/** Pure test helper: workload `db1` with its primary at A and replicas at the other sites, the default policy with `policy` over it. */
export function testSetup(o: { sites?: string[]; at?: number; policy?: Partial<WorkloadSetup['policy']> } = {}): WorkloadSetup {
  const sites = o.sites ?? ['A', 'B'];
  return {
    workloadId: 'db1',
    primarySite: sites[0]!,
    sites: sites.map((siteId, i) => ({ siteId, priority: i + 1 })),
    policy: { ...DEFAULT_POLICY, debounceMs: 1000, ...o.policy },
    epoch: 0,
    at: o.at ?? 0,
  };
}
