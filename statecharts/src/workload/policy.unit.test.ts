import { describe, expect, it } from 'vitest';
import { Sim, setupWith } from './test-harness';

/** Every policy field changes some decision: one scenario per field, run with two values. */
describe('policy - each field changes a decision', () => {
  it('rpoSeconds: the same lag is degraded under a tight RPO and protected under a loose one', () => {
    const tight = new Sim(setupWith({ rpoSeconds: 5 }));
    tight.replicas(10);
    const loose = new Sim(setupWith({ rpoSeconds: 30 }));
    loose.replicas(10);
    expect([tight.state, loose.state]).toEqual(['degraded', 'protected']);
  });

  it('maxDataLossSeconds: a lagging replica is promoted automatically only within the limit (invariant 5)', () => {
    const strict = new Sim(setupWith({ maxDataLossSeconds: 5, rpoSeconds: 60 }, ['A', 'B']));
    strict.replicas(10);
    strict.failOver();
    expect(strict.state).toBe('awaitingApproval');
    expect(strict.has('ApprovalRequired')).toBe(true);
    expect(strict.lastCommand('promote')).toBeUndefined();
    const lenient = new Sim(setupWith({ maxDataLossSeconds: 30, rpoSeconds: 60 }, ['A', 'B']));
    lenient.replicas(10);
    lenient.failOver();
    expect(lenient.state).toBe('failedOver');
  });

  it('failoverMode: automatic fails over, approval waits for a human, manual escalates', () => {
    const states = (['automatic', 'approval', 'manual'] as const).map((failoverMode) => {
      const sim = new Sim(setupWith({ failoverMode }));
      sim.replicas();
      sim.loseSite();
      sim.advance(1001);
      return sim.state;
    });
    expect(states[0]).toMatch(/^failingOver\./);
    expect(states.slice(1)).toEqual(['awaitingApproval', 'escalated']);
  });

  it('debounceMs: the failover starts only after the debounce window', () => {
    const at = (debounceMs: number) => {
      const sim = new Sim(setupWith({ debounceMs }));
      sim.replicas();
      sim.loseSite();
      sim.advance(debounceMs - 1);
      const before = sim.has('FailoverStarted');
      sim.advance(1);
      return [before, sim.has('FailoverStarted')];
    };
    expect(at(1000)).toEqual([false, true]);
    expect(at(5000)).toEqual([false, true]);
    const short = new Sim(setupWith({ debounceMs: 1000 }));
    short.loseSite();
    short.advance(2000);
    const long = new Sim(setupWith({ debounceMs: 5000 }));
    long.loseSite();
    long.advance(2000);
    expect([short.has('FailoverStarted'), long.has('FailoverStarted')]).toEqual([true, false]);
  });

  it('fenceTimeoutMs, promoteTimeoutMs, verifyTimeoutMs: commands carry them and steps time out by them', () => {
    const sim = new Sim(setupWith({ fenceTimeoutMs: 1111, promoteTimeoutMs: 2222, verifyTimeoutMs: 3333, retries: 0 }));
    sim.replicas();
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: [] });
    sim.advance(1000);
    expect(sim.lastCommand('fence')?.timeoutMs).toBe(1111);
    sim.answer('fence');
    expect(sim.lastCommand('promote')?.timeoutMs).toBe(2222);
    sim.answer('promote');
    expect(sim.lastCommand('redirect')?.timeoutMs).toBe(3333);
    const slow = new Sim(setupWith({ fenceTimeoutMs: 1111, retries: 0 }));
    slow.replicas(); // a promotable replica: only then is the primary fenced (invariant 1a)
    slow.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: [] });
    slow.advance(1000 + 1110);
    expect(slow.state).toBe('failingOver.fencing');
    slow.advance(2);
    expect(slow.state).toBe('escalated');
  });

  it('fenceMarginMs: a lost primary counts as fenced only after its lease expiry plus the margin', () => {
    const run = (fenceMarginMs: number) => {
      const sim = new Sim(setupWith({ fenceMarginMs, debounceMs: 0 }));
      sim.replicas();
      sim.loseSite();
      sim.advance(1000);
      return sim.has('FenceConfirmed');
    };
    expect([run(500), run(5000)]).toEqual([true, false]);
  });

  it('replicaWaitMs: how long a failover waits for a promotable replica before giving up, nothing fenced (invariant 1a)', () => {
    const run = (replicaWaitMs: number) => {
      const sim = new Sim(setupWith({ replicaWaitMs }, ['A', 'B']));
      sim.replicas();
      sim.send({ type: 'REPLICA_STATUS', siteId: 'B', healthy: false, role: 'replica' });
      sim.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: [] });
      sim.advance(1000 + 2000);
      sim.replicas(); // B reads healthy again
      return [sim.state, sim.lastCommand('fence')?.siteId ?? 'no fence'];
    };
    expect(run(1000)).toEqual(['escalated', 'no fence']);
    expect(run(5000)).toEqual(['failingOver.fencing', 'A']);
  });

  it('retries: a failed fence is retried with a new attempt before escalating', () => {
    const none = new Sim(setupWith({ retries: 0 }));
    none.replicas(); // a promotable replica: only then is the primary fenced (invariant 1a)
    none.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: [] });
    none.advance(1000);
    none.answer('fence', 'failed', 'disk busy');
    const two = new Sim(setupWith({ retries: 2 }));
    two.replicas(); // a promotable replica: only then is the primary fenced (invariant 1a)
    two.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'unhealthy', evidence: [] });
    two.advance(1000);
    two.answer('fence', 'failed', 'disk busy');
    expect(none.state).toBe('escalated');
    expect(two.state).toBe('failingOver.fencing');
    expect(two.lastCommand('fence')?.commandId).toMatch(/:fence:A:1$/);
  });

  it('cooldownSeconds: a second automatic failover inside the cooldown is suppressed (invariant 6)', () => {
    const second = (cooldownSeconds: number) => {
      const sim = new Sim(setupWith({ cooldownSeconds, autoReprotect: false }));
      sim.replicas();
      sim.failOver();
      expect(sim.state).toBe('failedOver');
      sim.replicas(0);
      sim.advance(10_000);
      sim.loseSite();
      sim.advance(2000);
      return sim.has('FailoverSuppressed') ? 'suppressed' : sim.state;
    };
    expect(second(300)).toBe('suppressed');
    expect(second(0)).toMatch(/^failingOver|^failedOver/);
  });

  it('autoReprotect: the old primary, back and healthy, is resynced as a replica only when enabled', () => {
    const run = (autoReprotect: boolean) => {
      const sim = new Sim(setupWith({ autoReprotect }, ['A', 'B']));
      sim.replicas();
      sim.failOver();
      sim.send({ type: 'SITE_STATUS', siteId: 'A', status: 'up', evidence: [] });
      sim.send({ type: 'REPLICA_STATUS', siteId: 'A', healthy: true, role: 'fenced' });
      return sim.state;
    };
    expect([run(true), run(false)]).toEqual(['reprotecting', 'failedOver']);
  });

  it('autoFailback: once the old primary is back in sync, the workload moves back only when enabled', () => {
    const run = (autoFailback: boolean) => {
      const sim = new Sim(setupWith({ autoFailback }, ['A', 'B']));
      sim.replicas();
      sim.failOver();
      sim.send({ type: 'SITE_STATUS', siteId: 'A', status: 'up', evidence: [] });
      sim.send({ type: 'REPLICA_STATUS', siteId: 'A', healthy: true, role: 'fenced' });
      sim.answer('reprotect');
      sim.send({ type: 'REPLICA_STATUS', siteId: 'A', healthy: true, role: 'replica', position: '5', lagSeconds: 0 });
      return sim.state;
    };
    expect([run(true), run(false)]).toEqual(['switchingOver.quiescing', 'protected']);
  });
});
