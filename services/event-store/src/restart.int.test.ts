import { startPostgresServer, stopAllPostgresServers, type PostgresServer } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEventStoreUnavailableError } from './errors';
import type { EventStore, StoredEvent } from './port';
import { createPostgresEventStore } from './postgres';
import { newEvent } from './testing/index';

/** A private server (never the shared one): the test restarts it under a live store. */
describe('event store - a PostgreSQL restart loses no event', () => {
  let pg: PostgresServer;
  let store: EventStore;

  beforeAll(async () => {
    pg = await startPostgresServer({ label: 'es-restart' });
    store = createPostgresEventStore({ url: pg.url(), pollMs: 100 });
    await store.init();
  });
  afterAll(async () => {
    await store?.close();
    stopAllPostgresServers();
  });

  it('surfaces a retryable error while the server is down, reconnects, and the subscriber sees every event once', async () => {
    const seen: StoredEvent[] = [];
    const errors: unknown[] = [];
    const sub = store.subscribeAll({ onEvents: (b) => void seen.push(...b), onError: (e) => errors.push(e) });
    const stream = 'workload-restart';
    let version = 0;
    const appendRetrying = async () => {
      const ev = [newEvent('Tick', { n: version + 1 })];
      for (let attempt = 0; ; attempt++) {
        try {
          version = (await store.append(stream, ev, { expectedVersion: version })).nextExpectedVersion;
          return;
        } catch (e) {
          if (!isEventStoreUnavailableError(e) || attempt > 200) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    for (let i = 0; i < 5; i++) await appendRetrying();
    pg.stop('fast');
    const whileDown = await store.append(stream, [newEvent('Lost?')], { expectedVersion: version }).catch((e: unknown) => e);
    expect(isEventStoreUnavailableError(whileDown)).toBe(true);
    pg.start();
    for (let i = 0; i < 5; i++) await appendRetrying();
    const deadline = Date.now() + 15_000;
    while (seen.length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await sub.stop();
    expect(seen.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await store.streamVersion(stream)).toBe(10);
  });
});
