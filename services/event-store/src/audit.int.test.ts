import { createTestDatabase, type TestDatabase } from '@drc/test-kit';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAudit } from './audit';
import type { EventStore } from './port';
import { createPostgresEventStore } from './postgres';
import { newEvent } from './testing/index';

describe('audit - tamper evidence through the per-stream hash chain', () => {
  let db: TestDatabase;
  let store: EventStore;

  beforeAll(async () => {
    db = await createTestDatabase('audit');
    store = createPostgresEventStore({ url: db.url });
    await store.init();
    await store.append('workload-a', [newEvent('A', { lag: 1 }), newEvent('B', { lag: 2 }), newEvent('C', { lag: 3 })], { expectedVersion: 0 });
    await store.append('workload-b', [newEvent('A'), newEvent('B')], { expectedVersion: 0 });
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('verifies untouched streams clean', async () => {
    expect(await verifyAudit(store)).toEqual({ streamsChecked: 2, eventsChecked: 5, broken: [] });
  });

  it('names the stream and position of an event edited with plain SQL, and leaves the others clean', async () => {
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    await sql`UPDATE drc_events SET data = '{"lag": 0}'::jsonb WHERE stream = 'workload-a' AND position = 2`;
    await sql.end();
    const report = await verifyAudit(store);
    expect(report.broken).toEqual([{ stream: 'workload-a', position: 2, reason: expect.stringContaining('altered') }]);
    expect((await verifyAudit(store, { stream: 'workload-b' })).broken).toEqual([]);
  });
});
