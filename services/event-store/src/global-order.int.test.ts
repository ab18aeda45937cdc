import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@drc/test-kit';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, StoredEvent } from './port';
import { createPostgresEventStore } from './postgres';
import { newEvent } from './testing/index';

/**
 * Invariant 3: projections never skip an event, even one committed out of order. Transaction A
 * takes the lower global position but commits AFTER transaction B; a subscriber must not move
 * its checkpoint past A while A can still commit.
 */
describe('global log - out-of-order commits are never skipped', () => {
  let db: TestDatabase;
  let store: EventStore;
  let raw: postgres.Sql;

  beforeAll(async () => {
    db = await createTestDatabase('order');
    store = createPostgresEventStore({ url: db.url, pollMs: 50 });
    await store.init();
    raw = postgres(db.url, { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await raw?.end();
    await store?.close();
    await db?.drop();
  });

  it('delivers the later-committed, lower-positioned event, in one consistent order', async () => {
    const seen: StoredEvent[] = [];
    const sub = store.subscribeAll({ onEvents: (b) => void seen.push(...b) });
    let releaseA!: () => void;
    const aMayCommit = new Promise<void>((r) => (releaseA = r));
    let aInserted!: () => void;
    const aHasPosition = new Promise<void>((r) => (aInserted = r));
    const streamA = `a-${randomUUID().slice(0, 6)}`;
    // Transaction A: allocates its global position first, then waits before committing.
    const txA = raw.begin(async (tx) => {
      await tx`INSERT INTO drc_events (stream, position, event_id, type, data, metadata, hash, prev_hash)
               VALUES (${streamA}, 1, ${randomUUID()}, 'A', '{}'::jsonb, '{}'::jsonb, 'h', 'p')`;
      aInserted();
      await aMayCommit;
    });
    await aHasPosition;
    // Transaction B: a normal append, committed while A is still open.
    await store.append(`b-${randomUUID().slice(0, 6)}`, [newEvent('B')], { expectedVersion: 0 });
    await new Promise((r) => setTimeout(r, 400));
    expect(seen.map((e) => e.type)).toEqual([]); // B is held back: A could still commit before it
    releaseA();
    await txA;
    const deadline = Date.now() + 10_000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await sub.stop();
    expect(seen.map((e) => e.type)).toEqual(['A', 'B']);
    const [a, b] = seen;
    expect(a!.globalPosition < b!.globalPosition).toBe(true);
    // A reader starting from scratch sees the same order.
    expect((await store.readAll()).map((e) => e.type)).toEqual(['A', 'B']);
  });
});
