import { chaosRandom, eventually, freePort } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEstate, type Estate } from './harness';

/**
 * Issue 17, "never make things worse", chaos scenarios 9-11: drc's own processes restart or
 * stall while every copy is healthy. Nothing may move, and drc must see everything again at
 * once. (The split-brain watcher of the harness runs throughout.)
 *   9. the only coordinator is stopped (SIGSTOP) for 3 s, as a CPU-starved process is: nothing
 *      moves, and it leads again within seconds of SIGCONT, without exiting;
 *  10. the agent of a site holding only a replica is away longer than its lease: the site is
 *      lost, nothing moves (its replica is not where any primary is), and it is up and the
 *      workload protected again within seconds of the agent's return;
 *  11. the agent of the primaries' site, after half a minute of running, restarts faster than
 *      its lease: nothing moves, and the site is up again within seconds of the agent's return.
 * Timings are seeded (DRC_CHAOS_SEED replays a run).
 */
const chaos = chaosRandom('never worse: restarts');
const LEASE_MS = 6000;
const SITES = ['A', 'B', 'C'] as const;
const WORKLOADS = ['orders', 'billing', 'ledger'] as const;

describe('drc restarting or stalling its own processes makes nothing worse', () => {
  let estate: Estate;
  const failoversStarted = async () =>
    Object.fromEntries(await Promise.all(WORKLOADS.map(async (id) => [id, (await estate.events(id)).filter((e) => e.type === 'FailoverStarted').length] as const)));
  const site = async (id: string) => (await estate.sites()).find((s) => s.siteId === id);
  const allProtected = () => eventually(async () => (await Promise.all(WORKLOADS.map((id) => estate.workload(id)))).every((w) => w.state === 'protected'), 20_000, 250);

  beforeAll(async () => {
    const witness = async () => `http://127.0.0.1:${await freePort()}`;
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: LEASE_MS, startupGraceMs: 2000 },
        defaults: { policy: { debounceMs: 500, fenceMarginMs: 500, rpoSeconds: 10, maxDataLossSeconds: 10 } },
        sites: await Promise.all(SITES.map(async (id, i) => ({ id, priority: i + 1, witnessUrl: await witness() }))),
        workloads: [
          { id: 'orders', driver: 'sim', primarySite: 'A', replicaSites: ['B'] },
          { id: 'billing', driver: 'sim', primarySite: 'A', replicaSites: ['B'] },
          // C holds nothing but this replica.
          { id: 'ledger', driver: 'sim', primarySite: 'B', replicaSites: ['C'] },
        ],
      },
      'nwrestart',
      { agentArgs: () => ['--heartbeat-ms', '250', '--lease-ttl-ms', String(LEASE_MS)] },
    );
    await eventually(async () => (await estate.sites()).every((s) => s.status === 'up'), 30_000);
    await allProtected();
  });

  afterAll(async () => {
    await estate?.stop();
  });

  it('9. the coordinator stopped (SIGSTOP) for 3 s: it leads again within seconds, nothing moves', async () => {
    const before = await failoversStarted();
    const co = estate.coordinators[0]!;
    await chaos.jitter(1000);
    process.kill(co.process.child.pid!, 'SIGSTOP');
    try {
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      process.kill(co.process.child.pid!, 'SIGCONT');
    }
    const resumed = Date.now();
    await eventually(async () => (await estate.leader())?.id === co.id, 15_000, 100).catch(() => {
      throw new Error(`coordinator not leading 15 s after SIGCONT (exit code ${co.process.child.exitCode}); its last output:\n${co.process.output().slice(-3000)}`);
    });
    console.log(`[coordinator stopped 3 s] leading again ${Date.now() - resumed} ms after SIGCONT`);
    // A few seconds later it is still there, leading, and nothing moved.
    await new Promise((r) => setTimeout(r, 3000));
    expect(co.process.child.exitCode, 'the coordinator exited').toBeNull();
    expect((await estate.leader())?.id).toBe(co.id);
    expect(await failoversStarted(), 'nothing moved').toEqual(before);
    expect((await estate.sites()).filter((s) => s.status !== 'up'), 'sites not up').toEqual([]);
    await allProtected();
  });

  it('10. a replica-only site’s agent away longer than its lease: lost, nothing moves, up and protected within seconds of its return', async () => {
    const before = await failoversStarted();
    await estate.agents.get('C')!.kill();
    await eventually(async () => (await site('C'))?.status === 'lost', LEASE_MS + 20_000, 250);
    await chaos.jitter(3000);
    await estate.startAgent('C');
    const back = Date.now();
    const up = await eventually(async () => ((await site('C'))?.status === 'up' ? Date.now() : undefined), 10_000, 100).catch(async () => {
      throw new Error(`site C not up 10 s after its agent came back: ${JSON.stringify(await site('C'))}`);
    });
    console.log(`[agent away longer than lease] site C up ${up - back} ms after the agent's return`);
    await allProtected();
    expect(await failoversStarted(), 'nothing moved').toEqual(before);
    expect((await estate.workload('ledger')).primarySite).toBe('B');
  });

  it('11. the primaries’ agent restarts within its lease: nothing moves, the site is up again within seconds', async () => {
    // Last, so that the agent has run for a while: a restarted agent's messages were taken for
    // replays of its previous run's for as long as that run had lasted.
    const before = await failoversStarted();
    await chaos.jitter(1000);
    const killedAt = Date.now();
    await estate.agents.get('A')!.kill();
    await chaos.jitter(800);
    await estate.startAgent('A');
    const back = Date.now();
    console.log(`[agent restart within lease] agent A away ${back - killedAt} ms (lease ${LEASE_MS} ms)`);
    // Seen again within a few seconds of its return (a heartbeat every 250 ms).
    const up = await eventually(async () => ((await site('A'))?.status === 'up' ? Date.now() : undefined), 10_000, 100).catch(async () => {
      throw new Error(`site A not up 10 s after its agent came back: ${JSON.stringify(await site('A'))}`);
    });
    console.log(`[agent restart within lease] site A up ${up - back} ms after the agent's return`);
    // Well past the lease: still nothing has moved.
    await new Promise((r) => setTimeout(r, LEASE_MS));
    expect(await failoversStarted(), 'no failover from an agent restart shorter than the lease').toEqual(before);
    for (const id of ['orders', 'billing']) expect((await estate.workload(id)).primarySite).toBe('A');
    expect((await site('A'))?.status).toBe('up');
  });
});
