import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chaosRandom, eventually, freePort, startPostgresServer, startProcess, type ManagedProcess, type PostgresServer } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportFailover, startEstate, type Estate } from './harness';

const chaos = chaosRandom('infra restart');

/**
 * Issue 10, scenario 5: the infrastructure under the coordinator fails in the middle of a
 * failover. A private nats-server (JetStream on disk) is killed and restarted; the event
 * store's private PostgreSQL server is restarted. Each failover completes, once.
 */
describe('NATS and the event-store PostgreSQL restarted mid-failover', () => {
  let estate: Estate;
  let nats: ManagedProcess;
  let pg: PostgresServer;
  let natsDir: string;
  let natsPort: number;
  const startNats = () => {
    nats = startProcess({ name: 'nats-private', command: 'nats-server', args: ['-js', '-sd', natsDir, '-a', '127.0.0.1', '-p', String(natsPort)] });
    return nats.waitFor(/Server is ready/, 15_000);
  };

  beforeAll(async () => {
    natsDir = mkdtempSync(join(tmpdir(), 'drc-nats-'));
    natsPort = await freePort();
    await startNats();
    pg = await startPostgresServer({ label: 'evstore' });
    await pg.sql('CREATE DATABASE drc');
    // The agents probe each other directly (witness URLs), as deployed sites do: a NATS outage
    // alone then leaves every agent with a majority in sight, so none fences its primary. (With
    // NATS the only path, an outage longer than the lease fences every primary by design, and
    // the coordinator then fails them over: chaos seed 666202623 ran this test that way.)
    const witness = async () => `http://127.0.0.1:${await freePort()}`;
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: 2000, startupGraceMs: 2000 },
        defaults: { policy: { debounceMs: 300, fenceMarginMs: 300, rpoSeconds: 10, maxDataLossSeconds: 10, promoteTimeoutMs: 8000 } },
        sites: [
          { id: 'A', priority: 1, witnessUrl: await witness() },
          { id: 'B', priority: 2, witnessUrl: await witness() },
          { id: 'C', priority: 3, witnessUrl: await witness() },
        ],
        workloads: [
          // Slow promotions: a window to break the infrastructure in the middle of them.
          { id: 'orders', driver: { type: 'sim', sites: { B: { actionDelayMs: 2500 } } }, primarySite: 'A', replicaSites: ['B'] },
          { id: 'ledger', driver: { type: 'sim', sites: { C: { actionDelayMs: 2500 } } }, primarySite: 'B', replicaSites: ['C'] },
        ],
      },
      'infra',
      { natsUrl: `nats://127.0.0.1:${natsPort}`, databaseUrl: pg.url('drc') },
    );
    await eventually(async () => (await estate.sites()).every((s) => s.status === 'up'), 30_000);
  });

  afterAll(async () => {
    await estate?.stop();
    await nats?.stop();
    pg?.destroy();
    if (natsDir) rmSync(natsDir, { recursive: true, force: true });
  });

  const promotesActed = async (id: string) => (await estate.events(id)).filter((e) => e.type === 'PromoteConfirmed').length;

  it('nats-server killed and restarted while a promotion runs: the failover completes, once', async () => {
    await estate.agents.get('A')!.kill();
    await eventually(async () => (await estate.workload('orders')).state === 'failingOver.promoting', 30_000, 50);
    await chaos.jitter(300);
    await nats.kill();
    // NATS stays down 2.2-3.5 s: longer than the sites' 2 s lease, so the coordinator hears no
    // site at all for a while (a blackout); the agents still see each other directly.
    await chaos.jitter(3500, 2200);
    await startNats();
    const w = await eventually(async () => {
      const v = await estate.workload('orders');
      return v.state === 'failedOver' ? v : undefined;
    }, 60_000, 250);
    expect(w).toMatchObject({ primarySite: 'B', epoch: 1 });
    expect(await promotesActed('orders')).toBe(1);
    expect((await reportFailover(estate, 'orders', 'nats restart')).rtoMs).toBeGreaterThan(0);
    expect((await estate.events('orders')).filter((e) => e.type === 'FailoverCompleted')).toHaveLength(1);
    // The blackout moved nothing else: B and C were never declared lost (their agents ran on),
    // so ledger, whose primary is at B, did not fail over (chaos run seed 1111 caught this).
    expect((await estate.workload('ledger')).epoch).toBe(0);
    expect((await estate.events('ledger')).map((e) => e.type)).not.toContain('FailoverStarted');
    expect((await estate.events('ledger')).filter((e) => e.type === 'ReplicaStatusObserved' && e.data.role === 'fenced')).toEqual([]);
    expect((await estate.sites()).filter((x) => x.siteId !== 'A').map((x) => x.status)).toEqual(['up', 'up']);
  });

  it('the event store’s PostgreSQL restarted while a promotion runs: nothing decided is lost, the failover completes once', async () => {
    // B runs orders' new primary and ledger's primary: its loss moves ledger to C.
    await estate.agents.get('B')!.kill();
    await eventually(async () => (await estate.workload('ledger')).state === 'failingOver.promoting', 30_000, 50);
    await chaos.jitter(300);
    pg.restart('fast');
    const w = await eventually(async () => {
      const v = await estate.workload('ledger').catch(() => undefined);
      return v?.state === 'failedOver' ? v : undefined;
    }, 60_000, 250);
    expect(w).toMatchObject({ primarySite: 'C', epoch: 1 });
    const events = await estate.events('ledger');
    expect(events.filter((e) => e.type === 'PromoteConfirmed')).toHaveLength(1);
    expect((await reportFailover(estate, 'ledger', 'event-store restart')).rtoMs).toBeGreaterThan(0);
    expect(events.map((e) => e.position)).toEqual(events.map((_, i) => i + 1)); // gapless
  });
});
