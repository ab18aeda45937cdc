import { systemClock } from '@drc/runtime';
import { describeDriverContract } from '@drc/site-agent/testing';
import { describe, expect, it } from 'vitest';
import { Prng, Scheduler, SimClock, Trace } from '../kernel/index';
import { Network } from '../net/index';
import { PgCluster, SimPgDriver } from './index';

function cluster(synchronous: boolean, seed = 3) {
  const sched = new Scheduler(new Trace());
  const rng = new Prng(seed);
  const net = new Network(sched, rng.fork('net'));
  const pg = new PgCluster(sched, net, rng.fork('pg'), { workloadId: 'w1', sites: ['A', 'B', 'C'], primarySite: 'A', synchronous, writeEveryMs: 100, shipEveryMs: 100, hostNode: (s) => `site-${s}` });
  pg.start();
  return { sched, net, pg };
}

describe('simulated PostgreSQL copies', () => {
  it('async: promoting a lagging replica loses the acknowledged tail, and a rewind drops it from the old primary', async () => {
    const { sched, net, pg } = cluster(false);
    pg.copy('B').extraLagMs = 1000;
    await sched.run({ until: 10_000 });
    net.cut('site-A', 'site-B');
    net.cut('site-A', 'site-C');
    pg.crashHost('A');
    pg.promote('B');
    const lost = pg.lostWrites();
    expect(lost.length).toBeGreaterThan(5);
    expect(lost.every((w) => w.siteId === 'A')).toBe(true);
    pg.restartHost('A');
    expect(pg.writable().map((c) => c.siteId).sort()).toEqual(['A', 'B']); // the old primary comes back writable
    pg.follow('A', 'B');
    expect(pg.copy('A').wal.length).toBeLessThanOrEqual(pg.copy('B').wal.length);
    expect(pg.writable().map((c) => c.siteId)).toEqual(['B']);
  });

  it('sync: a write is acknowledged only once a replica has it, so promoting the most advanced replica loses nothing acknowledged', async () => {
    const { sched, net, pg } = cluster(true);
    pg.copy('C').extraLagMs = 5000;
    await sched.run({ until: 10_000 });
    net.cut('site-A', 'site-B');
    net.cut('site-A', 'site-C');
    await sched.run({ until: 12_000 }); // A keeps writing; nothing more is acknowledged
    const acked = pg.acked.length;
    pg.crashHost('A');
    pg.promote('B');
    expect(acked).toBeGreaterThan(50);
    expect(pg.lostWrites()).toEqual([]);
  });

  it('a replica whose history diverged stops receiving WAL until it follows again', async () => {
    const { sched, net, pg } = cluster(false);
    await sched.run({ until: 2000 });
    net.cut('site-A', 'site-B');
    pg.promote('B'); // A keeps writing on the old timeline: split history
    await sched.run({ until: 4000 });
    pg.fence('A');
    pg.copy('A').role = 'replica';
    pg.copy('A').upstream = 'B';
    net.heal('site-A', 'site-B');
    await sched.run({ until: 5000 });
    expect(pg.copy('A').diverged).toBe(true);
    pg.follow('A', 'B');
    await sched.run({ until: 6000 });
    expect(pg.copy('A').diverged).toBe(false);
  });

  it('the driver reports role, LSN and lag, and acts after its duration', async () => {
    const { sched, pg } = cluster(false);
    const proc = sched.process('agent-B');
    const d = new SimPgDriver(pg, 'B', new SimClock(sched, proc), new Prng(1), { actionMs: [500, 500], actionFailRate: 0, probeStallRate: 0, probeStallMs: 0, probeFlapRate: 0 });
    const seen: string[] = [];
    sched.at(3000, () => {
      void (async () => {
        const p = await d.probe();
        seen.push(`${p.role} ${p.healthy} ${Number(p.replication!.position) > 0}`);
        const t0 = sched.now;
        await d.execute('promote', {}, { commandId: 'c', epoch: 1, deadline: Number.MAX_SAFE_INTEGER, signal: new AbortController().signal });
        seen.push(`promoted after ${sched.now - t0}ms`);
      })();
    }, 'x', proc);
    await sched.run({ until: 5000 });
    expect(seen).toEqual(['replica true true', 'promoted after 500ms']);
    expect(pg.copy('B').role).toBe('primary');
  });
});

describeDriverContract('simulated postgres', async () => {
  const { pg } = cluster(false);
  return { driver: new SimPgDriver(pg, 'A', systemClock, new Prng(9), { actionMs: [0, 0], actionFailRate: 0, probeStallRate: 0, probeStallMs: 0, probeFlapRate: 0 }), idempotent: ['fence', 'snapshot', 'redirect'] };
});
