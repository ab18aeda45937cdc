import { DEFAULT_POLICY } from '@drc/contracts';
import { createMemoryEventData, createMemoryEventStore } from '@drc/event-store';
import { describe, expect, it } from 'vitest';
import { Prng, Scheduler, Trace } from '../kernel/index';
import { Network } from '../net/index';
import { PgCluster } from '../pg/index';
import { InvariantChecker } from './invariants';

function world(synchronous = false, benign = false) {
  const sched = new Scheduler(new Trace());
  const rng = new Prng(5);
  const net = new Network(sched, rng.fork('net'));
  const pg = new PgCluster(sched, net, rng.fork('pg'), { workloadId: 'w', sites: ['A', 'B'], primarySite: 'A', synchronous, writeEveryMs: 100, shipEveryMs: 100, hostNode: (s) => `site-${s}` });
  const events = createMemoryEventData();
  const checker = new InvariantChecker({ sched, clusters: new Map([['w', pg]]), policies: new Map([['w', { ...DEFAULT_POLICY, maxDataLossSeconds: 1 }]]), events, rogueGraceMs: 500, dataLossSlackMs: 0, benign: () => benign });
  pg.start();
  return { sched, pg, events, checker, store: createMemoryEventStore({ data: events }) };
}
const meta = { correlationId: 'c', actor: { kind: 'coordinator' as const, id: 'x' }, coordinatorId: 'x', leaderEpoch: 1, statechartVersion: 't@1' };

describe('invariant checker', () => {
  it('flags a promotion while the old primary still takes writes, and one with no fence confirmed', async () => {
    const { sched, pg, checker, store } = world();
    await store.append('workload-w', [{ id: '1', type: 'FailoverStarted', data: { type: 'FailoverStarted', mode: 'unplanned', fromSite: 'A', reason: 'x', evidence: [] }, metadata: meta }], { expectedVersion: 0 });
    sched.at(1000, () => pg.promote('B'), 'x', undefined);
    await sched.run({ until: 2000, afterStep: () => void checker.afterStep() });
    expect(checker.violations.map((v) => v.invariant)).toEqual(['no promotion while another copy takes writes', 'no promotion without a confirmed fence', 'one writable copy']);
  });

  it('accepts a promotion after a confirmed fence, and flags async loss beyond the policy', async () => {
    const { sched, pg, checker, store } = world();
    pg.copy('B').extraLagMs = 3000; // 3 s behind: more than the 1 s the policy allows
    await store.append('workload-w', [
      { id: '1', type: 'FailoverStarted', data: { type: 'FailoverStarted', mode: 'unplanned', fromSite: 'A', reason: 'x', evidence: [] }, metadata: meta },
      { id: '2', type: 'FenceConfirmed', data: { type: 'FenceConfirmed', siteId: 'A', by: 'agent' }, metadata: meta },
    ], { expectedVersion: 0 });
    sched.at(10_000, () => {
      pg.fence('A');
      pg.promote('B');
    }, 'x', undefined);
    await sched.run({ until: 11_000, afterStep: () => void checker.afterStep() });
    expect(checker.violations.map((v) => v.invariant)).toEqual(['acknowledged writes lost within policy']);
  });

  it('flags an epoch going down at an agent and any failover in a benign run', async () => {
    const { checker, store } = world(false, true);
    checker.onEpoch('A', 'w', 3, 2);
    await store.append('workload-w', [{ id: '1', type: 'FailoverStarted', data: { type: 'FailoverStarted', mode: 'unplanned', fromSite: 'A', reason: 'x', evidence: [] }, metadata: meta }], { expectedVersion: 0 });
    checker.finish();
    expect(checker.violations.map((v) => v.invariant)).toEqual(['epochs never decrease', 'replay is deterministic', 'no failover from pauses or restarts shorter than the lease']);
  });
});
