import { randomUUID } from 'node:crypto';
import type { EventMetadata } from '@drc/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWrongExpectedVersionError } from '../errors';
import { eventHash, GENESIS_HASH } from '../hash';
import type { EventStore, NewEvent, StoredEvent } from '../port';

export interface StoreFixture {
  store: EventStore;
  /** A second, independent store on the same data (another coordinator process), when the adapter can have one. */
  secondWriter?: () => Promise<EventStore>;
  cleanup(): Promise<void>;
}

const meta = (over: Partial<EventMetadata> = {}): EventMetadata => ({
  correlationId: randomUUID(),
  actor: { kind: 'coordinator', id: 'contract' },
  coordinatorId: 'contract',
  leaderEpoch: 1,
  statechartVersion: 'test@1',
  ...over,
});

export const newEvent = (type: string, data: unknown = { n: 1 }): NewEvent => ({ id: randomUUID(), type, data, metadata: meta() });

/**
 * The event-store contract: every adapter's own test file calls this unchanged.
 * `makeStore` gives a fresh, empty, initialised store.
 */
export function runEventStoreContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`event store contract - ${name}`, () => {
    let fx: StoreFixture;
    let store: EventStore;
    const s = () => `s-${randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      fx = await makeStore();
      store = fx.store;
    });
    afterAll(async () => {
      await fx?.cleanup();
    });

    it('appends and reads a stream forwards, backwards, from a position and with a limit', async () => {
      const stream = s();
      const r = await store.append(stream, [newEvent('A', { i: 1 }), newEvent('B', { i: 2 }), newEvent('C', { i: 3 })], { expectedVersion: 'no_stream' });
      expect(r).toEqual({ nextExpectedVersion: 3, duplicate: false });
      const all = await store.readStream(stream);
      expect(all.map((e) => [e.position, e.type, e.data])).toEqual([
        [1, 'A', { i: 1 }],
        [2, 'B', { i: 2 }],
        [3, 'C', { i: 3 }],
      ]);
      expect(all[0]!.metadata.coordinatorId).toBe('contract');
      expect(all[0]!.recordedAt).toBeInstanceOf(Date);
      expect((await store.readStream(stream, { direction: 'backwards' })).map((e) => e.position)).toEqual([3, 2, 1]);
      expect((await store.readStream(stream, { fromPosition: 2 })).map((e) => e.position)).toEqual([2, 3]);
      expect((await store.readStream(stream, { direction: 'backwards', fromPosition: 2, maxCount: 1 })).map((e) => e.position)).toEqual([2]);
      expect(await store.readStream(s())).toEqual([]);
      expect(await store.streamVersion(stream)).toBe(3);
      expect(await store.streamVersion(s())).toBe(0);
    });

    it('checks expected versions with numbers and sentinels, with a typed conflict error', async () => {
      const stream = s();
      await expect(store.append(stream, [newEvent('A')], { expectedVersion: 'stream_exists' })).rejects.toSatisfy(isWrongExpectedVersionError);
      await store.append(stream, [newEvent('A')], { expectedVersion: 0 });
      await expect(store.append(stream, [newEvent('B')], { expectedVersion: 'no_stream' })).rejects.toSatisfy(isWrongExpectedVersionError);
      const err = await store.append(stream, [newEvent('B')], { expectedVersion: 5 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'EVENTSTORE_WRONG_VERSION', stream, expected: '5', actual: 1 });
      await store.append(stream, [newEvent('B')], { expectedVersion: 'stream_exists' });
      await store.append(stream, [newEvent('C')], { expectedVersion: 'any' });
      await store.append(stream, [newEvent('D')], { expectedVersion: 3 });
      expect(await store.streamVersion(stream)).toBe(4);
    });

    it('lets exactly one of two concurrent appends with the same expected version succeed', async () => {
      for (let round = 0; round < 5; round++) {
        const stream = s();
        await store.append(stream, [newEvent('A')], { expectedVersion: 0 });
        const results = await Promise.allSettled([
          store.append(stream, [newEvent('X')], { expectedVersion: 1 }),
          store.append(stream, [newEvent('Y')], { expectedVersion: 1 }),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(isWrongExpectedVersionError(rejected?.reason)).toBe(true);
        expect(await store.streamVersion(stream)).toBe(2);
      }
      // The same race on a stream that does not exist yet.
      const fresh = s();
      const first = await Promise.allSettled([
        store.append(fresh, [newEvent('X')], { expectedVersion: 0 }),
        store.append(fresh, [newEvent('Y')], { expectedVersion: 0 }),
      ]);
      expect(first.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(isWrongExpectedVersionError((first.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason)).toBe(true);
    });

    it('treats a retried append with the same event ids as a no-op, not a duplicate', async () => {
      const stream = s();
      const events = [newEvent('A'), newEvent('B')];
      await store.append(stream, events, { expectedVersion: 0 });
      const again = await store.append(stream, events, { expectedVersion: 0 });
      expect(again).toEqual({ nextExpectedVersion: 2, duplicate: true });
      expect(await store.readStream(stream)).toHaveLength(2);
    });

    it('appends to many streams at once (batched where the adapter batches), each gapless with an intact hash chain', async () => {
      const streams = Array.from({ length: 60 }, () => s());
      await Promise.all(streams.map((st) => store.append(st, [newEvent('Registered')], { expectedVersion: 0 })));
      for (let round = 1; round <= 5; round++) {
        const results = await Promise.all(streams.map((st, i) => store.append(st, [newEvent('Step', { round, i }), newEvent('Decision', { round })], { expectedVersion: 1 + (round - 1) * 2 })));
        for (const r of results) expect(r).toEqual({ nextExpectedVersion: 1 + round * 2, duplicate: false });
      }
      for (const st of streams.slice(0, 10)) {
        const evs = await store.readStream(st);
        expect(evs.map((e) => e.position)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
        let prev = GENESIS_HASH;
        for (const e of evs) {
          expect(e.prevHash).toBe(prev);
          expect(e.hash).toBe(eventHash(e.prevHash, { stream: st, position: e.position, type: e.type, data: e.data, metadata: e.metadata }));
          prev = e.hash;
        }
      }
      // A retry of an append that already went through (same ids, same expected version) is a no-op.
      const st = streams[0]!;
      const again = [newEvent('X')];
      await store.append(st, again, { expectedVersion: 11 });
      expect(await store.append(st, again, { expectedVersion: 11 })).toEqual({ nextExpectedVersion: 12, duplicate: true });
      // Concurrent appends with the same expected version on a stream this store wrote last: one wins.
      const race = await Promise.allSettled([store.append(st, [newEvent('P')], { expectedVersion: 12 }), store.append(st, [newEvent('Q')], { expectedVersion: 12 })]);
      expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(isWrongExpectedVersionError((race.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason)).toBe(true);
      expect(await store.streamVersion(st)).toBe(13);
    });

    it('a second writer on the same data: appends on a moved stream fail on the version, never fork the chain', async (ctx) => {
      if (!fx.secondWriter) {
        console.log(`[event store contract - ${name}] skipped: this adapter has no second writer on the same data`);
        ctx.skip();
        return;
      }
      const other = await fx.secondWriter();
      try {
        const st = s();
        await store.append(st, [newEvent('A')], { expectedVersion: 0 });
        await store.append(st, [newEvent('B')], { expectedVersion: 1 }); // this store now knows the head
        await other.append(st, [newEvent('C')], { expectedVersion: 2 }); // the other moves it
        const err = await store.append(st, [newEvent('D')], { expectedVersion: 2 }).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'EVENTSTORE_WRONG_VERSION', stream: st, expected: '2', actual: 3 });
        // Told the new version, the first store appends on top of the other's event.
        await store.append(st, [newEvent('E')], { expectedVersion: 3 });
        await other.append(st, [newEvent('F')], { expectedVersion: 4 });
        expect(await store.append(st, [newEvent('G')], { expectedVersion: 5 })).toEqual({ nextExpectedVersion: 6, duplicate: false });
        const evs = await store.readStream(st);
        expect(evs.map((e) => e.type)).toEqual(['A', 'B', 'C', 'E', 'F', 'G']);
        for (let i = 1; i < evs.length; i++) expect(evs[i]!.prevHash).toBe(evs[i - 1]!.hash);
      } finally {
        await other.close();
      }
    });

    it('chains hashes: each event covers the previous hash and its own bytes', async () => {
      const stream = s();
      await store.append(stream, [newEvent('A', { nested: { b: 1, a: [1, 'x'] } })], { expectedVersion: 0 });
      await store.append(stream, [newEvent('B')], { expectedVersion: 1 });
      const [a, b] = await store.readStream(stream);
      expect(a!.prevHash).toBe(GENESIS_HASH);
      expect(b!.prevHash).toBe(a!.hash);
      for (const e of [a!, b!]) {
        expect(e.hash).toBe(eventHash(e.prevHash, { stream, position: e.position, type: e.type, data: e.data, metadata: e.metadata }));
      }
    });

    it('reads the global log in order with resumable checkpoints and a stream-prefix filter', async () => {
      const before = await readEverything(store);
      const cat = `cat${randomUUID().slice(0, 6)}-`;
      await store.append(`${cat}1`, [newEvent('A')], { expectedVersion: 0 });
      await store.append(`other-${randomUUID().slice(0, 6)}`, [newEvent('B')], { expectedVersion: 0 });
      await store.append(`${cat}2`, [newEvent('C'), newEvent('D')], { expectedVersion: 0 });
      const after = await readEverything(store, before.at(-1)?.checkpoint);
      expect(after.map((e) => e.type)).toEqual(['A', 'B', 'C', 'D']);
      const gps = after.map((e) => e.globalPosition);
      expect([...gps].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(gps);
      const page1 = await store.readAll({ ...(before.at(-1) ? { after: before.at(-1)!.checkpoint } : {}), maxCount: 2 });
      const page2 = await store.readAll({ after: page1[1]!.checkpoint, maxCount: 10 });
      expect([...page1, ...page2].map((e) => e.type)).toEqual(['A', 'B', 'C', 'D']);
      const onlyCat = await store.readAll({ ...(before.at(-1) ? { after: before.at(-1)!.checkpoint } : {}), streamPrefix: cat });
      expect(onlyCat.map((e) => e.type)).toEqual(['A', 'C', 'D']);
      expect((await store.listStreams(cat)).sort()).toEqual([`${cat}1`, `${cat}2`]);
    });

    it('delivers every event to a subscriber exactly once, in order, including later appends', async () => {
      const start = (await readEverything(store)).at(-1)?.checkpoint;
      const seen: StoredEvent[] = [];
      const sub = store.subscribeAll({ ...(start ? { after: start } : {}), onEvents: (batch) => void seen.push(...batch) });
      const stream = s();
      await store.append(stream, [newEvent('A')], { expectedVersion: 0 });
      for (let i = 0; i < 20; i++) await store.append(stream, [newEvent(`E${i}`)], { expectedVersion: i + 1 });
      const deadline = Date.now() + 10_000;
      while (seen.filter((e) => e.stream === stream).length < 21 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      await sub.stop();
      const mine = seen.filter((e) => e.stream === stream);
      expect(mine.map((e) => e.position)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
      expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    });

    it('saves and loads snapshots, never replacing a newer one with an older one', async () => {
      const stream = s();
      expect(await store.loadSnapshot(stream)).toBeUndefined();
      await store.saveSnapshot({ stream, version: 5, state: { v: 5 }, schema: 'x@1' });
      await store.saveSnapshot({ stream, version: 3, state: { v: 3 }, schema: 'x@1' });
      expect(await store.loadSnapshot(stream)).toEqual({ stream, version: 5, state: { v: 5 }, schema: 'x@1' });
    });
  });
}

async function readEverything(store: EventStore, after?: string): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let cp = after;
  for (;;) {
    const batch = await store.readAll({ ...(cp ? { after: cp } : {}), maxCount: 5000 });
    if (batch.length === 0) return out;
    out.push(...batch);
    cp = batch[batch.length - 1]!.checkpoint;
  }
}
