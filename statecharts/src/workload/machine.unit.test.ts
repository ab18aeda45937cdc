import { DEFAULT_POLICY, type WorkloadSetup } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { decideWorkload, startWorkload, stateOf, viewWorkload, type Effect, type WorkloadSnapshot } from './api';

const setupInput: WorkloadSetup = {
  workloadId: 'db1',
  primarySite: 'A',
  sites: [
    { siteId: 'A', priority: 1 },
    { siteId: 'B', priority: 2 },
    { siteId: 'C', priority: 3 },
  ],
  policy: { ...DEFAULT_POLICY, debounceMs: 1000, fenceMarginMs: 500 },
  epoch: 0,
  at: 1_000,
};

function timerOf(effects: Effect[]): { timerId: string; event: { type: string }; delayMs: number } {
  const t = effects.find((e): e is Extract<Effect, { kind: 'schedule' }> => e.kind === 'schedule');
  if (!t) throw new Error('no timer scheduled');
  return t;
}

describe('workload machine - unplanned failover after a site loss', () => {
  it('selects the most advanced replica first, then fences by lease expiry, promotes with a new epoch', () => {
    let { snapshot } = startWorkload(setupInput);
    const feed = (input: Parameters<typeof decideWorkload>[1]) => {
      const step = decideWorkload(snapshot, input);
      snapshot = step.snapshot;
      return step.effects;
    };
    feed({ type: 'REPLICA_STATUS', at: 1_100, siteId: 'B', healthy: true, position: '100', lagSeconds: 1 });
    feed({ type: 'REPLICA_STATUS', at: 1_100, siteId: 'C', healthy: true, position: '200', lagSeconds: 0 });
    let fx = feed({ type: 'SITE_STATUS', at: 2_000, siteId: 'A', status: 'lost', leaseExpiredAt: 2_000, evidence: [] });
    fx = feed({ type: 'PRIMARY_FAILED', at: 2_000, siteId: 'A', reason: 'siteLost', evidence: ['lease expired'], leaseExpiredAt: 2_000 });
    expect(stateOf(snapshot)).toBe('suspect');
    const debounce = timerOf(fx);
    expect(debounce.delayMs).toBe(1000);
    fx = feed({ type: 'TIMER_FIRED', at: 3_000, timerId: debounce.timerId, event: debounce.event });
    expect(stateOf(snapshot)).toBe('failingOver.fencing');
    // Invariant 1a: the replica is chosen before the old primary is fenced.
    const decisions = fx.flatMap((e) => (e.kind === 'decision' ? [e.decision.type] : []));
    expect(decisions).toEqual(['FailoverStarted', 'ReplicaSelected', 'CommandIssued']);
    const selected = fx.find((e) => e.kind === 'decision' && e.decision.type === 'ReplicaSelected');
    expect(selected && selected.kind === 'decision' && selected.decision.type === 'ReplicaSelected' && selected.decision.chosen).toBe('C');
    const fence = fx.find((e) => e.kind === 'decision' && e.decision.type === 'CommandIssued');
    expect(fence && fence.kind === 'decision' && fence.decision.type === 'CommandIssued' && fence.decision.command).toMatchObject({ action: 'fence', siteId: 'A', epoch: 0 });
    const margin = timerOf(fx);
    expect(margin.delayMs).toBe(0); // lease expired at 2000 + 500 margin < now (3000)
    fx = feed({ type: 'TIMER_FIRED', at: 3_001, timerId: margin.timerId, event: margin.event });
    expect(stateOf(snapshot)).toBe('failingOver.promoting');
    expect(fx.flatMap((e) => (e.kind === 'decision' ? [e.decision.type] : []))).toEqual(['FenceConfirmed', 'EpochAdvanced', 'CommandIssued']);
    const promote = fx.find((e) => e.kind === 'decision' && e.decision.type === 'CommandIssued');
    if (!promote || promote.kind !== 'decision' || promote.decision.type !== 'CommandIssued') throw new Error('no promote');
    expect(promote.decision.command).toMatchObject({ action: 'promote', siteId: 'C', epoch: 1 });
    fx = feed({
      type: 'COMMAND_RESULT', at: 3_200, commandId: promote.decision.command.commandId, siteId: 'C', action: 'promote', epoch: 1, status: 'done', detail: {},
    });
    expect(stateOf(snapshot)).toBe('failingOver.redirecting');
    const redirect = fx.find((e) => e.kind === 'decision' && e.decision.type === 'CommandIssued');
    if (!redirect || redirect.kind !== 'decision' || redirect.decision.type !== 'CommandIssued') throw new Error('no redirect');
    expect(redirect.decision.command).toMatchObject({ action: 'redirect', siteId: 'C', epoch: 1 });
    fx = feed({ type: 'COMMAND_RESULT', at: 3_250, commandId: redirect.decision.command.commandId, siteId: 'C', action: 'redirect', epoch: 1, status: 'done', detail: {} });
    expect(stateOf(snapshot)).toBe('failingOver.verifying');
    fx = feed({ type: 'REPLICA_STATUS', at: 3_900, siteId: 'C', healthy: true, role: 'primary', position: '300', lagSeconds: 0 });
    expect(stateOf(snapshot)).toBe('failedOver');
    const view = viewWorkload(snapshot as WorkloadSnapshot);
    expect(view).toMatchObject({ primarySite: 'C', epoch: 1 });
    expect(fx.some((e) => e.kind === 'decision' && e.decision.type === 'FailoverCompleted')).toBe(true);
  });

  it('returns to protected when the primary recovers inside the debounce window', () => {
    let { snapshot } = startWorkload(setupInput);
    snapshot = decideWorkload(snapshot, { type: 'PRIMARY_FAILED', at: 2_000, siteId: 'A', reason: 'unhealthy', evidence: [] }).snapshot;
    const step = decideWorkload(snapshot, { type: 'PRIMARY_RECOVERED', at: 2_500, siteId: 'A' });
    expect(stateOf(step.snapshot)).toBe('protected');
    expect(step.effects.some((e) => e.kind === 'cancel')).toBe(true);
  });
});
