import { chaosRandom, eventually } from '@drc/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { startEstate, type Estate } from './harness';

const chaos = chaosRandom('coordinator handover');

const sites = [
  { id: 'A', priority: 1 },
  { id: 'B', priority: 2 },
  { id: 'C', priority: 3 },
];
const fast = { siteLeaseTtlMs: 2000, startupGraceMs: 2000, leaderTtlMs: 1500 };
const policy = { debounceMs: 500, fenceMarginMs: 300, rpoSeconds: 10, maxDataLossSeconds: 10 };

describe('coordinator runtime - restarts and leader hand-over with real processes', () => {
  let estate: Estate | undefined;
  afterEach(async () => {
    await estate?.stop();
    estate = undefined;
  });

  it('a coordinator restarted while the agents keep running fails nothing over', async () => {
    estate = await startEstate(
      { coordinator: fast, defaults: { policy }, sites, workloads: [{ id: 'orders', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }, { id: 'ledger', driver: 'sim', primarySite: 'B', replicaSites: ['C'] }] },
      'restart',
    );
    const e = estate;
    await eventually(async () => (await e.sites()).every((s) => s.status === 'up'), 30_000);
    await e.coordinator.kill(); // a crash, not a clean stop
    await e.startCoordinator('restart-coordinator');
    // Longer than the startup grace plus a lease: time enough to (wrongly) declare a site lost.
    await new Promise((r) => setTimeout(r, 6000));
    for (const id of ['orders', 'ledger']) {
      const w = await e.workload(id);
      expect(w.state).toBe('protected');
      expect(w.epoch).toBe(0);
      expect((await e.events(id)).map((x) => x.type)).not.toContain('FailoverStarted');
    }
    expect((await e.sites()).every((s) => s.status === 'up')).toBe(true);
  });

  it('kill -9 of the leader mid-failover: the standby takes over and the failover completes exactly once', async () => {
    estate = await startEstate(
      {
        coordinator: fast,
        defaults: { policy },
        sites,
        // Promotion at B takes 2.5 s: a window to kill the leader in the middle of it.
        workloads: [{ id: 'orders', driver: { type: 'sim', sites: { B: { actionDelayMs: 2500 } } }, primarySite: 'A', replicaSites: ['B'] }],
      },
      'handover',
      { coordinators: 2 },
    );
    const e = estate;
    await eventually(async () => (await e.sites()).every((s) => s.status === 'up'), 30_000);
    const first = await eventually(() => e.leader(), 10_000);
    await e.agents.get('A')!.kill();
    await eventually(async () => (await e.workload('orders')).state === 'failingOver.promoting', 30_000, 50);
    await chaos.jitter(300); // somewhere in the promotion, not always at its first millisecond
    await first.process.kill();
    const second = await eventually(async () => {
      const l = await e.leader();
      return l && l.id !== first.id ? l : undefined;
    }, 15_000);
    const done = await eventually(async () => {
      const w = await e.workload('orders');
      return w.state === 'failedOver' ? w : undefined;
    }, 30_000);
    expect(done).toMatchObject({ primarySite: 'B', epoch: 1 });

    const events = await e.events('orders');
    const count = (type: string) => events.filter((x) => x.type === type).length;
    expect(count('EpochAdvanced')).toBe(1);
    expect(count('PromoteConfirmed')).toBe(1);
    expect(count('FailoverCompleted')).toBe(1);
    const writers = [...new Set(events.map((x) => x.metadata.coordinatorId))];
    expect(writers).toEqual(expect.arrayContaining([first.id, second.id]));
    const epochs = events.map((x) => x.metadata.leaderEpoch as number);
    expect([...epochs].sort((a, b) => a - b)).toEqual(epochs); // leadership epochs only go up in the stream
    // The agent at B carried out exactly one promotion (a re-sent command is answered, not re-run).
    const promotions = e.agents
      .get('B')!
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"command answered"') && l.includes('"action":"promote"'));
    expect(promotions).toHaveLength(1);
  });
});
