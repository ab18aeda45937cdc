import type { WorkloadInput, WorkloadSetup } from '@drc/contracts';
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
