import { randomUUID } from 'node:crypto';
import { createPostgresEventStore, type EventStore, type NewEvent } from '@drc/event-store';
import { foldWorkloadStream, recordSiteLoss, type HistoryEvent } from '@drc/history';
import { stateOf } from '@drc/statecharts';
import { createTestDatabase, eventually, type TestDatabase } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Projector } from './projector';

/*
 * Issue 9: read models rebuilt from zero equal the live ones, row for row. The live projection
 * follows appends as they happen (two projectors at once, as a leader and a standby coordinator
 * run them); the rebuild reads the whole log into another schema and into the live one.
 */
const asNew = (e: HistoryEvent): NewEvent => ({ id: randomUUID(), type: e.type, data: e.data, metadata: e.metadata as NewEvent['metadata'] });

describe('projections - live and rebuilt read models', () => {
  let db: TestDatabase;
  let store: EventStore;
  const projectors: Projector[] = [];
  beforeAll(async () => {
    db = await createTestDatabase('proj');
    store = createPostgresEventStore({ url: db.url, pollMs: 50 });
    await store.init();
  });
  afterAll(async () => {
    await Promise.all(projectors.map((p) => p.close()));
    await store?.close();
    await db?.drop();
  });
  const projector = (schema?: string) => {
    const p = new Projector({ url: db.url, store, pageSize: 37, ...(schema ? { schema } : {}) });
    projectors.push(p);
    return p;
  };

  it('rebuilt read models equal the live ones row for row, and say what the streams say', async () => {
    const liveA = projector();
    const liveB = projector(); // a second coordinator's projector on the same tables
    await liveA.start();
    await liveB.start();

    // 24 workloads: some lose their primary site and fail over, the others only report lag.
    const streams = new Map<string, HistoryEvent[]>();
    for (let i = 0; i < 24; i++) {
      const rec = recordSiteLoss({ workloadId: `w${i}`, at: 1_700_000_000_000 + i * 1000, samples: 5 + (i % 7) });
      const events = i % 3 === 0 ? rec.events.filter((e) => e.position <= 1 + (i % 7)) : rec.events; // every third never fails
      streams.set(`w${i}`, events);
    }
    // Appended in slices, interleaved across streams, while the projectors follow.
    let total = 0;
    const offsets = new Map([...streams.keys()].map((k) => [k, 0]));
    for (let round = 0; [...offsets].some(([k, o]) => o < streams.get(k)!.length); round++) {
      await Promise.all(
        [...streams].map(async ([id, events]) => {
          const from = offsets.get(id)!;
          const slice = events.slice(from, from + 1 + ((round + id.length) % 4));
          if (slice.length === 0) return;
          offsets.set(id, from + slice.length);
          total += slice.length;
          await store.append(`workload-${id}`, slice.map(asNew), { expectedVersion: from });
        }),
      );
    }
    await eventually(async () => (await liveA.status()).eventsApplied === total, 20_000, 50);
    const live = await liveA.rows();

    // What the streams say: one row per workload with its folded state, one per completed failover.
    expect(live.workloads).toHaveLength(24);
    for (const w of live.workloads) {
      const events = streams.get(w.workloadId)!;
      const folded = foldWorkloadStream(events);
      expect(w.state, w.workloadId).toBe(stateOf(folded.snapshot));
      expect(w.epoch).toBe(folded.snapshot.context.epoch);
      expect(w.primarySite).toBe(folded.snapshot.context.primarySite);
      expect(w.changedAt).toBe(Math.max(...events.filter((e) => ['WorkloadRegistered', 'WorkloadStateChanged', 'FailoverCompleted'].includes(e.type)).map((e) => e.position)));
      expect(w.failovers).toBe(events.filter((e) => e.type === 'FailoverCompleted').length);
    }
    const completed = [...streams.values()].flat().filter((e) => e.type === 'FailoverCompleted');
    expect(completed.length).toBeGreaterThan(5);
    expect(live.failovers).toHaveLength(completed.length);

    // Rebuilt from zero into another schema: identical rows.
    const rebuilt = projector('drc_read_rebuild');
    expect(await rebuilt.rebuild()).toBe(total);
    expect(await rebuilt.rows()).toEqual(live);
    // Rebuilt in place (the live schema), while the live projectors keep running: identical again.
    await liveA.stop();
    expect(await projector().rebuild()).toBe(total);
    expect(await liveB.rows()).toEqual(live);
    expect((await liveB.status()).eventsApplied).toBe(total);
  });
});
