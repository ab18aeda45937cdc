import { createLogger } from '@drc/runtime';
import { startPostgresPair, type PostgresPair, type PostgresServer } from '@drc/test-kit';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDriverError, type ActionContext } from '../driver';
import { createPostgresDriver, lsnToPosition, type PostgresDriver } from './postgres-driver';

const logger = createLogger('pg-driver-test').child({}, { level: 'silent' });
let n = 0;
const ctx = (): ActionContext => ({ commandId: `c${++n}`, epoch: 1, deadline: Date.now() + 120_000, signal: new AbortController().signal });

/**
 * The PostgreSQL driver against a real primary/standby pair (PostgreSQL 15 run as an
 * unprivileged user): lag reporting, fencing both ways, promotion, a write on the new primary,
 * and the old primary rewound into a streaming standby of the new one; a drill on an isolated
 * copy that production never notices.
 */
describe('postgres driver on a real primary/standby pair', () => {
  let pair: PostgresPair;
  let onA: PostgresDriver; // the first primary
  let onB: PostgresDriver; // its standby
  const settingsOf = (node: PostgresServer, extra: Record<string, unknown> = {}) => ({
    host: '127.0.0.1', port: node.port, dataDir: node.dataDir, osUser: node.osUser, slot: pair.slot, localConf: pair.localConf(node), streamTimeoutMs: 30_000, ...extra,
  });
  const make = async (node: PostgresServer, site: string, peers: Record<string, PostgresServer>, extra: Record<string, unknown> = {}) =>
    (await createPostgresDriver({
      workloadId: 'orders', siteId: site, configuredRole: 'primary', settings: settingsOf(node, extra), peers: [], logger,
      peerSettings: (s) => (peers[s] ? settingsOf(peers[s]!) : undefined),
    })) as PostgresDriver;
  const write = async (node: PostgresServer, v: string) => {
    const c = postgres(node.url(), { max: 1, onnotice: () => {} });
    try {
      await c`CREATE TABLE IF NOT EXISTS t (v text)`;
      await c`INSERT INTO t VALUES (${v})`;
    } finally {
      await c.end();
    }
  };
  const rows = async (node: PostgresServer) => (await node.sql<{ v: string }>('SELECT v FROM t ORDER BY v')).map((r) => r.v);

  beforeAll(async () => {
    pair = await startPostgresPair('drv');
    onA = await make(pair.primary, 'A', { B: pair.standby });
    onB = await make(pair.standby, 'B', { A: pair.primary });
  });
  afterAll(() => pair?.stop());

  it('converts LSNs to comparable positions', () => {
    expect(lsnToPosition('0/3000060')).toBe(String(0x3000060));
    expect(BigInt(lsnToPosition('1/0'))).toBeGreaterThan(BigInt(lsnToPosition('0/FFFFFFFF')));
  });

  it('reports roles, positions and lag; the standby catches up after writes', async () => {
    await write(pair.primary, 'a1');
    const p = await onA.probe();
    expect(p).toMatchObject({ role: 'primary', healthy: true, replication: { lagSeconds: 0, lagBytes: 0 } });
    const s = await eventuallyProbe(onB, (r) => r.replication?.lagBytes === 0 && BigInt(r.replication.position) >= BigInt(p.replication!.position));
    expect(s).toMatchObject({ role: 'replica', healthy: true });
  });

  it('fences read-only (writes refused, sessions ended), then by stopping; both idempotent', async () => {
    const ro = await make(pair.primary, 'A', { B: pair.standby }, { fenceMode: 'readonly' });
    const held = postgres(pair.primary.url(), { max: 1, onnotice: () => {} });
    await held`SELECT 1`;
    expect((await ro.execute('fence', {}, ctx())).detail).toMatchObject({ fencedBy: 'readonly' });
    expect((await ro.probe()).role).toBe('fenced');
    await expect(held`INSERT INTO t VALUES ('no')`).rejects.toThrow(); // its session was ended
    await held.end().catch(() => undefined);
    await expect(write(pair.primary, 'nope')).rejects.toThrow(/read-only/);
    await ro.execute('fence', {}, ctx()); // again: still fenced, no error
    await onA.execute('fence', {}, ctx()); // stop mode
    expect(await onA.probe()).toMatchObject({ role: 'stopped', healthy: false });
    await onA.execute('fence', {}, ctx());
  });

  it('promotes the standby (twice is fine), takes writes there, and rewinds the old primary into its streaming standby', async () => {
    const first = await onB.execute('promote', {}, ctx());
    expect(first.detail).toMatchObject({ role: 'primary', alreadyPrimary: false });
    expect((await onB.execute('promote', {}, ctx())).detail).toMatchObject({ alreadyPrimary: true });
    await write(pair.standby, 'b1');
    expect(await rows(pair.standby)).toEqual(['a1', 'b1']);

    const back = await onA.execute('reprotect', { upstreamSite: 'B' }, ctx());
    expect(back.detail).toMatchObject({ role: 'replica', method: 'pg_rewind' });
    await write(pair.standby, 'b2');
    const r = await eventuallyProbe(onA, (x) => x.role === 'replica' && x.healthy && x.detail === undefined && x.replication?.lagBytes === 0);
    expect(r.role).toBe('replica');
    await waitFor(async () => (await rows(pair.primary)).includes('b2'));
    expect(await rows(pair.primary)).toEqual(['a1', 'b1', 'b2']); // the old primary now follows the new one
    // Again: already streaming from B, nothing to do.
    expect((await onA.execute('reprotect', { upstreamSite: 'B' }, ctx())).detail).toMatchObject({ method: 'none (already streaming)' });
  });

  it('a drill starts an isolated writable copy of the standby and removes it; production roles and replication do not change', async () => {
    const before = await onA.probe(); // A is the standby now
    const d = await onA.execute('drillStart', {}, ctx());
    expect(d.detail).toMatchObject({ drill: 'running', check: 'passed' });
    const port = Number(d.detail!.port);
    const copy = postgres({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1, onnotice: () => {} });
    await copy`INSERT INTO t VALUES ('drill-only')`;
    await copy.end();
    expect(await rows(pair.standby)).not.toContain('drill-only'); // production never sees drill writes
    expect((await onA.probe()).role).toBe(before.role);
    expect((await onA.execute('drillCleanup', {}, ctx())).detail).toMatchObject({ drill: 'removed' });
    await expect(postgres({ host: '127.0.0.1', port, user: 'postgres', max: 1, connect_timeout: 1 })`SELECT 1`).rejects.toThrow();
    expect(await onA.probe()).toMatchObject({ role: 'replica', healthy: true });
  });

  it('rejects bad settings naming the field, and refuses to act past the deadline', async () => {
    await expect(createPostgresDriver({ workloadId: 'w', siteId: 'A', configuredRole: 'primary', settings: { port: 'x', dataDir: '/d' }, peers: [], logger })).rejects.toThrow(/driver\.settings\.port/);
    await expect(createPostgresDriver({ workloadId: 'w', siteId: 'A', configuredRole: 'primary', settings: { port: 5432, dataDir: '/d', fenceMode: 'pull-the-plug' }, peers: [], logger })).rejects.toThrow(/driver\.settings\.fenceMode/);
    const late = onA.execute('promote', {}, { ...ctx(), deadline: Date.now() - 1 });
    await expect(late).rejects.toSatisfy(isDriverError);
    expect((await onA.probe()).role).toBe('replica');
  });
});

async function waitFor(fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function eventuallyProbe(d: PostgresDriver, ok: (r: Awaited<ReturnType<PostgresDriver['probe']>>) => boolean, ms = 20_000) {
  let last: Awaited<ReturnType<PostgresDriver['probe']>> | undefined;
  await waitFor(async () => ok((last = await d.probe())), ms).catch(() => {
    throw new Error(`probe never matched; last: ${JSON.stringify(last)}`);
  });
  return last!;
}
