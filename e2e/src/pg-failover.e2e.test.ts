import { chaosRandom, ContinuousWriter, createTcpProxy, eventually, freePort, natsUrl, startPostgresPair, type PostgresPair, type TcpProxy } from '@drc/test-kit';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgDriverFor, startEstate, type Estate } from './harness';

/**
 * Issue 10 on a real PostgreSQL primary/standby pair, with real processes throughout
 * (nats-server, the event store's PostgreSQL, a coordinator, an agent per site). A client
 * writes continuously; what it had acknowledged and is missing afterwards is counted.
 *   1. kill -9 of the primary's postmaster: the standby is promoted and the writes resume;
 *      lost acknowledged writes lie within the RPO window.
 *   2. reprotect, then a planned switchover back: zero acknowledged writes lost, and the
 *      old primary is rewound and streaming again.
 *   3. the primary's site cut off from everything while its PostgreSQL keeps running: after
 *      the failover, a client that still reaches the old primary cannot commit there.
 */
const RPO_SECONDS = 5;
/** Random timings, reproducible: DRC_CHAOS_SEED=N replays a run (`npm run chaos` loops over seeds). */
const chaos = chaosRandom('pg chaos');
const jitter = (maxMs: number) => chaos.jitter(maxMs);
const SITES = ['A', 'B', 'C'] as const;

describe('failover of a real PostgreSQL pair', () => {
  let pair: PostgresPair;
  let estate: Estate;
  let writer: ContinuousWriter;
  const natsProxy = new Map<string, TcpProxy>();
  const link = new Map<string, TcpProxy>();
  const witnessPort = new Map<string, number>();
  const wl = () => estate.workload('pgdb');

  beforeAll(async () => {
    pair = await startPostgresPair('e2epg');
    const nats = new URL(natsUrl());
    for (const s of SITES) {
      natsProxy.set(s, await createTcpProxy({ targetHost: nats.hostname, targetPort: Number(nats.port || 4222) }));
      witnessPort.set(s, await freePort());
    }
    for (const from of SITES) for (const to of SITES) if (from !== to) link.set(`${from}->${to}`, await createTcpProxy({ targetPort: witnessPort.get(to)! }));
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: 2000, startupGraceMs: 2000 },
        defaults: { policy: { debounceMs: 500, fenceMarginMs: 500, rpoSeconds: RPO_SECONDS, maxDataLossSeconds: RPO_SECONDS, autoReprotect: false, cooldownSeconds: 0 } },
        sites: SITES.map((id, i) => ({ id, priority: i + 1 })),
        workloads: [{ id: 'pgdb', kind: 'database', driver: pgDriverFor(pair, 'A', 'B'), primarySite: 'A', replicaSites: ['B'] }],
      },
      'pgfo',
      {
        agentArgs: (site) => [
          '--nats', `nats://127.0.0.1:${natsProxy.get(site)!.port}`,
          '--heartbeat-ms', '250', '--lease-ttl-ms', '2000',
          '--witness-listen', `127.0.0.1:${witnessPort.get(site)!}`,
          ...SITES.filter((p) => p !== site).flatMap((p) => ['--witness-peer', `${p}=http://127.0.0.1:${link.get(`${site}->${p}`)!.port}`]),
        ],
      },
    );
    await eventually(async () => {
      const w = await wl();
      return w.state === 'protected' && w.replicas.find((r) => r.siteId === 'B')?.lagSeconds === 0;
    }, 60_000, 250);
    writer = new ContinuousWriter([pair.primary, pair.standby].map((n) => ({ host: '127.0.0.1', port: n.port })), { user: 'postgres', database: 'postgres' });
    await writer.prepare();
    writer.start();
    await eventually(() => writer.acked.length > 50, 10_000);
  });

  afterAll(async () => {
    await writer?.stop();
    await estate?.stop();
    for (const p of [...natsProxy.values(), ...link.values()]) await p.close();
    pair?.stop();
  });

  it('1. kill -9 of the primary postmaster: the standby takes over, writes resume, losses within the RPO', async () => {
    await jitter(1500); // the kill lands anywhere in the write stream
    const killedAt = Date.now();
    pair.primary.kill9();
    const w = await eventually(async () => {
      const v = await wl();
      return v.state === 'failedOver' ? v : undefined;
    }, 60_000, 100);
    expect(w).toMatchObject({ primarySite: 'B', epoch: 1 });
    const rto = await writer.firstWriteElsewhere(killedAt, pair.primary.port, 30_000);
    const lost = await writer.lostWrites();
    console.log(`[pg kill -9] client RTO ${rto} ms, lost acknowledged writes ${lost.length} of ${writer.acked.length}`);
    for (const l of lost) expect(killedAt - l.at, `write ${l.id} lost from ${killedAt - l.at} ms before the kill`).toBeLessThanOrEqual(RPO_SECONDS * 1000);
    const done = (await estate.events('pgdb')).find((e) => e.type === 'FailoverCompleted');
    expect(Number(done?.data.rtoMs)).toBeGreaterThan(0);
  });

  it('2. reprotect the crashed primary, then a planned switchover back: zero acknowledged writes lost, old primary streaming', async () => {
    const api = (await estate.leader()) ?? estate.coordinators[0]!;
    const command = (body: Record<string, unknown>) =>
      fetch(`http://127.0.0.1:${api.port}/api/v1/workloads/pgdb/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await command({ command: 'reprotect' })).status).toBe(202);
    await eventually(async () => {
      const v = await wl();
      return v.state === 'protected' && v.replicas.find((r) => r.siteId === 'A')?.role === 'replica' && v.replicas.find((r) => r.siteId === 'A')?.lagSeconds === 0;
    }, 90_000, 250);
    const rewound = (await estate.events('pgdb')).filter((e) => e.type === 'CommandResultReceived' && e.data.action === 'reprotect').at(-1);
    expect(String((rewound?.data.detail as { method?: string } | undefined)?.method)).toMatch(/pg_rewind|pg_basebackup/);

    await jitter(1500);
    const ackedBefore = writer.acked.length;
    const switchedAt = Date.now();
    expect((await command({ command: 'switchover', targetSite: 'A' })).status).toBe(202);
    const w = await eventually(async () => {
      const v = await wl();
      return v.state === 'protected' && v.primarySite === 'A' && v.replicas.find((r) => r.siteId === 'B')?.role === 'replica' ? v : undefined;
    }, 90_000, 250);
    expect(w.epoch).toBeGreaterThanOrEqual(2);
    await eventually(() => writer.acked.length > ackedBefore + 20 && writer.acked.at(-1)!.port === pair.primary.port, 30_000);
    const lost = await writer.lostWrites();
    console.log(`[pg switchover] lost acknowledged writes ${lost.length}`);
    expect(lost.filter((l) => l.at >= switchedAt)).toEqual([]); // zero in the planned move
    // The old primary (B) is a streaming standby of A now.
    const [r] = await pair.standby.sql<{ status: string }>('SELECT status FROM pg_stat_wal_receiver');
    expect(r?.status).toBe('streaming');
  });

  it('3. the primary site cut off from everything while PostgreSQL runs: after the failover it cannot commit a write', async () => {
    // A holds the primary now. Cut A's agent from NATS and from its peers.
    await jitter(1500);
    natsProxy.get('A')!.cut();
    for (const [k, p] of link) if (k.startsWith('A->') || k.endsWith('->A')) p.cut();
    const w = await eventually(async () => {
      const v = await wl();
      return v.primarySite === 'B' && v.state === 'failedOver' ? v : undefined;
    }, 60_000, 250);
    expect(w.epoch).toBeGreaterThanOrEqual(3);
    // A client that still reaches the old primary directly (its network is fine) cannot commit:
    // the agent fenced it when its lease lapsed, before the standby was promoted.
    const c = postgres({ host: '127.0.0.1', port: pair.primary.port, user: 'postgres', database: 'postgres', max: 1, connect_timeout: 1, onnotice: () => {}, fetch_types: false });
    await expect(c`INSERT INTO bench_writes DEFAULT VALUES`).rejects.toThrow();
    await c.end({ timeout: 1 }).catch(() => undefined);
    expect(estate.agents.get('A')!.output()).toMatch(/fencing our primary/);
    for (const p of [...natsProxy.values(), ...link.values()]) p.restore();
  });
});
