import { workloadStream } from '@drc/contracts';
import { eventually, startPostgresServer, stopAllPostgresServers, type PostgresServer } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../test-coordinator.fixture';

describe('coordinator - invariant 3 across an event-store restart: nothing decided is lost', () => {
  let pg: PostgresServer;
  let t: TestCoordinator;

  beforeAll(async () => {
    pg = await startPostgresServer({ label: 'co-restart' });
    t = await startTestCoordinator(
      'pgrestart',
      { coordinator: { startupGraceMs: 600_000 }, sites: [{ id: 'A' }, { id: 'B' }], workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }] },
      { databaseUrl: pg.url() },
    );
  });
  afterAll(async () => {
    await t?.stop();
    stopAllPostgresServers();
  });

  it('keeps inputs submitted while PostgreSQL is down and appends them, in order, once it is back', async () => {
    const { coordinator, store } = t;
    const stream = workloadStream('w1');
    const lagInput = (lag: number) => ({ type: 'REPLICA_STATUS' as const, at: Date.now(), siteId: 'B', healthy: true, role: 'replica' as const, position: String(1000 + lag), lagSeconds: lag });
    const origin = { actor: { kind: 'agent' as const, id: 'test' } };
    await coordinator.submit('w1', lagInput(1), origin);
    const before = await store.streamVersion(stream);
    pg.stop('fast');
    const pending = [coordinator.submit('w1', lagInput(2), origin), coordinator.submit('w1', lagInput(3), origin)];
    await new Promise((r) => setTimeout(r, 500));
    pg.start();
    await Promise.all(pending);
    await coordinator.submit('w1', lagInput(4), origin);
    const events = await eventually(async () => {
      const evs = await store.readStream(stream);
      return evs.filter((e) => e.type === 'ReplicaStatusObserved').length >= 4 ? evs : undefined;
    }, 20_000);
    const lags = events.filter((e) => e.type === 'ReplicaStatusObserved').map((e) => (e.data as { lagSeconds: number }).lagSeconds);
    expect(lags).toEqual([1, 2, 3, 4]);
    expect(events.map((e) => e.position)).toEqual(events.map((_, i) => i + 1));
    expect(before).toBeGreaterThan(1);
    expect(coordinator.workloadView('w1')?.replicas.find((r) => r.siteId === 'B')?.lagSeconds).toBe(4);
  });
});
