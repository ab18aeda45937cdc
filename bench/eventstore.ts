/**
 * Event-store throughput (not a test): single-event and batched appends, global read, and
 * subscription lag under load, for PostgreSQL (a fresh database on DATABASE_URL's server,
 * dropped after) and embedded PGlite. Writes bench/results/eventstore.json.
 */
import { randomUUID } from 'node:crypto';
import { createPgliteEventStore, createPostgresEventStore, type EventStore, type NewEvent } from '@drc/event-store';
import { createTestDatabase } from '@drc/test-kit';
import { percentile, printTable, writeResults } from './_util';

const metadata = { correlationId: 'bench', actor: { kind: 'coordinator' as const, id: 'bench' }, coordinatorId: 'bench', leaderEpoch: 1, statechartVersion: 'bench@1' };
const ev = (i: number): NewEvent => ({ id: randomUUID(), type: 'ReplicaStatusObserved', data: { type: 'REPLICA_STATUS', at: Date.now(), siteId: 'B', healthy: true, position: String(i), lagSeconds: 0.2 }, metadata });

async function measure(name: string, store: EventStore, scale: { single: number; batches: number; batchSize: number; writers: number; streams: number }) {
  await store.init();
  // single-event appends, `writers` concurrent streams
  let t = performance.now();
  await Promise.all(
    Array.from({ length: scale.writers }, async (_, w) => {
      const stream = `bench-single-${w}-${randomUUID().slice(0, 6)}`;
      for (let i = 0; i < scale.single / scale.writers; i++) await store.append(stream, [ev(i)], { expectedVersion: i });
    }),
  );
  const appendSingleEventsPerSec = scale.single / ((performance.now() - t) / 1000);
  // batched appends
  t = performance.now();
  await Promise.all(
    Array.from({ length: scale.writers }, async (_, w) => {
      const stream = `bench-batch-${w}-${randomUUID().slice(0, 6)}`;
      for (let b = 0; b < scale.batches / scale.writers; b++) {
        await store.append(stream, Array.from({ length: scale.batchSize }, (_, i) => ev(i)), { expectedVersion: b * scale.batchSize });
      }
    }),
  );
  const batchedEvents = scale.batches * scale.batchSize;
  const appendBatchedEventsPerSec = batchedEvents / ((performance.now() - t) / 1000);
  // many streams at once: a decision per workload for `streams` workloads in the same moment
  // (a site loss), each append to its own stream with its expected version (group commit)
  const names = Array.from({ length: scale.streams }, (_, i) => `bench-many-${i}-${randomUUID().slice(0, 6)}`);
  await Promise.all(names.map((n) => store.append(n, [ev(0)], { expectedVersion: 0 })));
  t = performance.now();
  for (let round = 0; round < 5; round++) await Promise.all(names.map((n) => store.append(n, [ev(1), ev(2)], { expectedVersion: 1 + round * 2 })));
  const manyStreamsAppendsPerSec = (5 * scale.streams) / ((performance.now() - t) / 1000);
  // global read
  t = performance.now();
  let read = 0;
  let cp: string | undefined;
  for (;;) {
    const page = await store.readAll({ ...(cp ? { after: cp } : {}), maxCount: 5000 });
    if (page.length === 0) break;
    read += page.length;
    cp = page[page.length - 1]!.checkpoint;
  }
  const readAllEventsPerSec = read / ((performance.now() - t) / 1000);
  // subscription lag: time from append acknowledged to delivery, while appending in batches of 10
  const sent = new Map<string, number>();
  const lags: number[] = [];
  const sub = store.subscribeAll({
    ...(cp ? { after: cp } : {}),
    onEvents: (batch) => {
      const now = performance.now();
      for (const e of batch) {
        const s = sent.get(e.id);
        if (s !== undefined) lags.push(now - s);
      }
    },
  });
  const stream = `bench-sub-${randomUUID().slice(0, 6)}`;
  for (let b = 0; b < 100; b++) {
    const events = Array.from({ length: 10 }, (_, i) => ev(i));
    await store.append(stream, events, { expectedVersion: b * 10 });
    const at = performance.now();
    for (const e of events) sent.set(e.id, at);
  }
  const deadline = Date.now() + 10_000;
  while (lags.length < 1000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await sub.stop();
  return {
    name,
    appendSingleEventsPerSec,
    appendBatchedEventsPerSec,
    manyStreamsAppendsPerSec,
    readAllEventsPerSec,
    eventsRead: read,
    subscriptionLagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), delivered: lags.length },
  };
}

export default async function main(): Promise<void> {
  const db = await createTestDatabase('bench_es');
  const pg = createPostgresEventStore({ url: db.url, maxConnections: 16, pollMs: 200 });
  let postgres;
  try {
    postgres = await measure('postgres', pg, { single: 4000, batches: 400, batchSize: 100, writers: 16, streams: 2000 });
  } finally {
    await pg.close();
    await db.drop();
  }
  const lite = createPgliteEventStore({ pollMs: 50 });
  let pglite;
  try {
    pglite = await measure('pglite', lite, { single: 1000, batches: 100, batchSize: 100, writers: 4, streams: 500 });
  } finally {
    await lite.close();
  }
  printTable(
    ['adapter', 'append 1/op ev/s', 'append 100/op ev/s', 'appends to many streams/s', 'readAll ev/s', 'sub lag p50 ms', 'sub lag p99 ms'],
    [postgres, pglite].map((r) => [r.name, r.appendSingleEventsPerSec, r.appendBatchedEventsPerSec, r.manyStreamsAppendsPerSec, r.readAllEventsPerSec, r.subscriptionLagMs.p50, r.subscriptionLagMs.p99]),
  );
  const strip = ({ name: _n, ...rest }: typeof postgres) => rest;
  const file = writeResults('eventstore', { postgres: strip(postgres), pglite: strip(pglite), targets: { postgres: { appendBatchedEventsPerSec: 20_000, readAllEventsPerSec: 100_000 } } });
  console.log(`\nwrote ${file}`);
}
