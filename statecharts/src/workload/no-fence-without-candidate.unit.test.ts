import { describe, expect, it } from 'vitest';
import { Sim, setupWith } from './test-harness';

/*
 * Invariant 1a, never worse than doing nothing: a failover chooses a promotable replica before
 * it fences anything; with none within replicaWaitMs it gives up and leaves the primary as it was
 * (issue 17, items 3 and 4). Given / when / then on the virtual clock of the test harness.
 */

const fences = (sim: Sim, site?: string) => sim.decisions.filter((d) => d.decision.type === 'CommandIssued' && d.decision.command.action === 'fence' && (site === undefined || d.decision.command.siteId === site));

/** Given a two-site workload whose only replica's last reading was a failed probe. */
function replicaLastSeenUnhealthy(policy: Parameters<typeof setupWith>[0] = {}): Sim {
  const sim = new Sim(setupWith({ replicaWaitMs: 3000, ...policy }, ['A', 'B']));
  sim.replicas();
  sim.send({ type: 'REPLICA_STATUS', siteId: 'B', healthy: false, role: 'replica' });
  return sim;
}

describe('invariant 1a - no fence of a primary until a promotable replica is chosen', () => {
  it('one failed probe of the primary while the only replica was last seen unhealthy: waits, then gives up with nothing fenced and says why', () => {
    const sim = replicaLastSeenUnhealthy();
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: ['probe timed out after 250 ms'] });
    sim.advance(1000); // debounce
    expect(sim.state).toBe('failingOver.awaitingReplica');
    const first = sim.decisions.find((d) => d.decision.type === 'ReplicaSelected')?.decision;
    expect(first && first.type === 'ReplicaSelected' ? first.chosen : 'none recorded').toBeUndefined();
    sim.advance(2999);
    expect(sim.state).toBe('failingOver.awaitingReplica');
    sim.advance(1);
    expect(sim.state).toBe('escalated');
    expect(fences(sim)).toEqual([]);
    const suppressed = sim.decisions.find((d) => d.decision.type === 'FailoverSuppressed')?.decision;
    expect(suppressed && 'reason' in suppressed ? suppressed.reason : '').toMatch(/no promotable replica within 3000 ms \(B: copy unhealthy.*\); primary at A left untouched/);
    expect(sim.view).toMatchObject({ primarySite: 'A', epoch: 0 });
    // The primary was never touched: its next good probe puts the workload back under protection.
    sim.send({ type: 'PRIMARY_RECOVERED', siteId: 'A' });
    expect(sim.state).toBe('degraded');
    expect(sim.lastCommand('promote')).toBeUndefined();
  });

  it('the replica reads healthy again within replicaWaitMs (one failed probe after a kill -9): it is chosen, then the primary is fenced, then it is promoted', () => {
    const sim = replicaLastSeenUnhealthy();
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'stopped', evidence: ['killed'] });
    sim.advance(1000);
    expect(sim.state).toBe('failingOver.awaitingReplica');
    expect(fences(sim)).toEqual([]);
    sim.advance(800);
    sim.replicas(); // B's next probe is fine
    expect(sim.state).toBe('failingOver.fencing');
    const order = sim.types().filter((t) => ['ReplicaSelected', 'CommandIssued', 'FenceConfirmed', 'EpochAdvanced'].includes(t));
    expect(order).toEqual(['ReplicaSelected', 'ReplicaSelected', 'CommandIssued']);
    expect(sim.lastCommand('fence')).toMatchObject({ siteId: 'A', epoch: 0 });
    sim.answer('fence');
    expect(sim.lastCommand('promote')).toMatchObject({ siteId: 'B', epoch: 1 });
    sim.answer('promote');
    sim.answer('redirect');
    expect(sim.has('FailoverCompleted')).toBe(true);
  });

  it('a replica that reads healthy from the start is chosen before the fence, and no wait is added', () => {
    const sim = new Sim(setupWith({}, ['A', 'B']));
    sim.replicas();
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: [] });
    sim.advance(1000);
    expect(sim.state).toBe('failingOver.fencing');
    expect(sim.types().slice(-3)).toEqual(['FailoverStarted', 'ReplicaSelected', 'CommandIssued']);
  });

  it('the primary recovers while the failover waits for a replica: called off, nothing fenced', () => {
    const sim = replicaLastSeenUnhealthy();
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: [] });
    sim.advance(1500);
    expect(sim.state).toBe('failingOver.awaitingReplica');
    sim.send({ type: 'PRIMARY_RECOVERED', siteId: 'A' });
    expect(sim.state).toBe('degraded');
    expect(sim.has('FailoverAborted')).toBe(true);
    expect(fences(sim)).toEqual([]);
    sim.advance(10_000);
    expect(sim.state).toBe('degraded');
    expect(sim.view.primarySite).toBe('A');
  });

  it('a lost primary site with no promotable replica is not fenced either (its agent fences itself; drc sends nothing)', () => {
    const sim = new Sim(setupWith({ replicaWaitMs: 2000 }, ['A', 'B']));
    sim.replicas();
    sim.loseSite('B');
    sim.loseSite('A');
    sim.advance(1000 + 2000);
    expect(sim.state).toBe('escalated');
    expect(fences(sim)).toEqual([]);
    expect(sim.has('FenceConfirmed')).toBe(false);
  });

  it('an operator failover obeys the same rule: with no promotable replica it fences nothing', () => {
    const sim = replicaLastSeenUnhealthy();
    sim.send({ type: 'OPERATOR_COMMAND', command: 'failover', actor: { kind: 'operator', id: 'op' }, requestId: 'r1' });
    expect(sim.state).toBe('failingOver.awaitingReplica');
    sim.advance(3000);
    expect(sim.state).toBe('escalated');
    expect(fences(sim)).toEqual([]);
    // With a named, healthy target the same command fences, then promotes it.
    sim.replicas();
    sim.send({ type: 'OPERATOR_COMMAND', command: 'failover', actor: { kind: 'operator', id: 'op' }, requestId: 'r2', targetSite: 'B' });
    expect(sim.state).toBe('failingOver.fencing');
    expect(sim.lastCommand('fence')).toMatchObject({ siteId: 'A' });
  });

  it('data-loss approval is asked before any fence; approved, the primary is fenced, then the replica promoted', () => {
    const sim = new Sim(setupWith({ maxDataLossSeconds: 5, rpoSeconds: 60 }, ['A', 'B']));
    sim.replicas(10);
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: [] });
    sim.advance(1000);
    expect(sim.state).toBe('awaitingApproval');
    expect(sim.has('ApprovalRequired')).toBe(true);
    expect(fences(sim)).toEqual([]);
    sim.send({ type: 'OPERATOR_COMMAND', command: 'approve', actor: { kind: 'operator', id: 'op' }, requestId: 'r1' });
    expect(sim.state).toBe('failingOver.fencing');
    sim.answer('fence');
    expect(sim.lastCommand('promote')).toMatchObject({ siteId: 'B' });
    sim.answer('promote');
    sim.answer('redirect');
    expect(sim.decisions.find((d) => d.decision.type === 'FailoverCompleted')?.decision).toMatchObject({ dataLossSeconds: 10 });
  });

  it('the primary recovers while a data-loss approval is pending: back to protection, nothing fenced; a rejection leaves nothing half done', () => {
    const sim = new Sim(setupWith({ maxDataLossSeconds: 5, rpoSeconds: 60 }, ['A', 'B']));
    sim.replicas(10);
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: [] });
    sim.advance(1000);
    expect(sim.state).toBe('awaitingApproval');
    sim.send({ type: 'PRIMARY_RECOVERED', siteId: 'A' });
    expect(sim.state).toBe('protected');
    expect(fences(sim)).toEqual([]);
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: [] });
    sim.advance(1000);
    sim.send({ type: 'OPERATOR_COMMAND', command: 'reject', actor: { kind: 'operator', id: 'op' }, requestId: 'r2' });
    expect(sim.state).toBe('escalated');
    sim.send({ type: 'PRIMARY_RECOVERED', siteId: 'A' });
    expect(sim.state).toBe('protected');
    expect(fences(sim)).toEqual([]);
  });
});

describe('invariant 1a - the last copy that could serve is never fenced when there is nowhere to move (issue 17, item 4)', () => {
  /** Given a failover A → B with cooldown 0 and no automatic reprotect, done. */
  function failedOverToB(): Sim {
    const sim = new Sim(setupWith({ cooldownSeconds: 0, autoReprotect: false, replicaWaitMs: 3000 }, ['A', 'B']));
    sim.replicas();
    sim.failOver();
    expect(sim.state).toBe('failedOver');
    expect(sim.view.primarySite).toBe('B');
    return sim;
  }

  it('a 1 s stall of the new primary, with the old one lost: no fence of the new primary; it goes on serving', () => {
    const sim = failedOverToB();
    const before = fences(sim).length;
    sim.advance(5000);
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'B', reason: 'unhealthy', evidence: ['probe timed out'] });
    sim.advance(1000);
    sim.send({ type: 'PRIMARY_RECOVERED', siteId: 'B' });
    sim.advance(10_000);
    expect(fences(sim, 'B')).toEqual([]);
    expect(fences(sim)).toHaveLength(before);
    expect(sim.view).toMatchObject({ primarySite: 'B', epoch: 1 });
    expect(sim.state).toBe('degraded'); // A is still lost
  });

  it('the old primary back and fenced (reporting itself healthy, lag 0) is no candidate: the new primary is not fenced for it', () => {
    const sim = failedOverToB();
    sim.send({ type: 'SITE_STATUS', siteId: 'A', status: 'up', evidence: [] });
    sim.send({ type: 'REPLICA_STATUS', siteId: 'A', healthy: true, role: 'fenced', position: '999', lagSeconds: 0 });
    sim.advance(5000);
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'B', reason: 'unhealthy', evidence: ['probe timed out'] });
    sim.advance(1000 + 3000);
    expect(sim.state).toBe('escalated');
    expect(fences(sim, 'B')).toEqual([]);
    const selected = sim.decisions.filter((d) => d.decision.type === 'ReplicaSelected').at(-1)?.decision;
    expect(JSON.stringify(selected)).toContain('role fenced, not a replica');
    expect(sim.view).toMatchObject({ primarySite: 'B', epoch: 1 });
  });
});

describe('invariant 1 - a lease expiry counts as a fence only while the old primary\'s site is lost', () => {
  it('the old primary\'s site lost, then back while the failover waits for a replica: the fence must be confirmed by its agent, not by the old lease expiry', () => {
    const sim = replicaLastSeenUnhealthy({ replicaWaitMs: 120_000 });
    sim.loseSite('A');
    sim.advance(sim.setup.policy.debounceMs + 1);
    expect(sim.state).toBe('failingOver.awaitingReplica');
    // A's site is back (its agent is heard again) and its copy is alive, though its probe still fails.
    sim.send({ type: 'SITE_STATUS', siteId: 'A', status: 'up', evidence: ['heartbeat heard'] });
    sim.send({ type: 'REPLICA_STATUS', siteId: 'A', healthy: false, role: 'primary' });
    sim.advance(60_000);
    // The replica becomes promotable: A is fenced first, and only its agent can confirm that.
    sim.send({ type: 'REPLICA_STATUS', siteId: 'B', healthy: true, role: 'replica', position: '1000', lagSeconds: 0 });
    sim.advance(sim.setup.policy.fenceMarginMs + 1);
    expect(fences(sim, 'A')).toHaveLength(1);
    expect(sim.has('FenceConfirmed'), sim.types().join(', ')).toBe(false);
    expect(sim.lastCommand('promote')).toBeUndefined();
    sim.answer('fence');
    expect(sim.has('FenceConfirmed')).toBe(true);
    expect(sim.lastCommand('promote')?.siteId).toBe('B');
  });
});
