import { randomUUID } from 'node:crypto';
import { createSubjects, EventMetadataSchema, FailoverReportSchema, parseDrcConfig, WorkloadEventsPageSchema, WorkloadStateAtSchema, workloadStream } from '@drc/contracts';
import { createPostgresEventStore, type EventStore } from '@drc/event-store';
import { recordSiteLoss, type HistoryEvent } from '@drc/history';
import { connectNats, createLogger, type NatsConnection } from '@drc/runtime';
import { createTestDatabase, deleteStreams, eventually, natsUrl, uniquePrefix, type TestDatabase } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../coordinator';
import { createApi } from './app';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const toNew = (e: HistoryEvent) => ({ id: randomUUID(), type: e.type, data: e.data, metadata: EventMetadataSchema.parse(e.metadata) });

/**
 * Audit reads against a real coordinator that rehydrates a recorded site loss from PostgreSQL:
 * the stream is appended in two parts, `middle` apart, so "before" and "after" are real times.
 */
describe('coordinator HTTP API - history, state at a moment, failover reports', () => {
  let db: TestDatabase;
  let store: EventStore;
  let nc: NatsConnection;
  let coordinator: Coordinator;
  let app: ReturnType<typeof createApi>;
  let middle: number;
  let firstPart: number;
  let total: number;
  let failedAt: number;
  const prefix = uniquePrefix('apihist');
  const get = async (path: string) => {
    const res = await app.request(path);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    db = await createTestDatabase('apihist');
    store = createPostgresEventStore({ url: db.url });
    await store.init();
    const recorded = recordSiteLoss({ workloadId: 'w2', at: Date.now() - 3_600_000, samples: 20 });
    failedAt = recorded.failedAt;
    // Part one ends before the debounce timer that starts the failover fires.
    const started = recorded.events.findIndex((e) => e.type === 'FailoverStarted');
    let split = started;
    while (recorded.events[split]!.type !== 'TimerFired') split--;
    await store.append(workloadStream('w2'), recorded.events.slice(0, split).map(toNew), { expectedVersion: 0 });
    firstPart = split;
    await sleep(150);
    middle = Date.now();
    await sleep(150);
    await store.append(workloadStream('w2'), recorded.events.slice(split).map(toNew), { expectedVersion: split });
    total = recorded.events.length;

    const parsed = parseDrcConfig({
      nats: { url: natsUrl(), prefix },
      coordinator: { startupGraceMs: 600_000 },
      sites: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
      workloads: [
        { id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] },
        { id: 'w2', driver: 'sim', primarySite: 'A', replicaSites: ['B', 'C'] },
      ],
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    nc = await connectNats({ url: natsUrl(), name: 'api-history-test' });
    coordinator = new Coordinator({ config: parsed.value, store, nc, logger: createLogger('api-history-test').child({}, { level: 'silent' }), coordinatorId: 'api-history' });
    await coordinator.start();
    await eventually(() => coordinator.isLeader && coordinator.hasWorkload('w2'), 15_000);
    app = createApi({ coordinator, store, nc });
  });

  afterAll(async () => {
    await coordinator?.stop();
    await nc?.close();
    await store?.close();
    await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_'));
    await db?.drop();
  });

  it('the coordinator rehydrated the recorded failover (A → B, epoch 1)', async () => {
    const { body } = await get('/api/v1/workloads/w2');
    expect(body).toMatchObject({ primarySite: 'B', epoch: 1, state: 'failedOver' });
  });

  it('events: from/to select by recorded time (ISO or relative), pages carry next, bad times are a 400 naming the field', async () => {
    const iso = new Date(middle).toISOString();
    const after = WorkloadEventsPageSchema.parse((await get(`/api/v1/workloads/w2/events?from=${iso}&limit=10000`)).body);
    expect(after.events[0]?.position).toBe(firstPart + 1);
    expect(after.events[0]?.type).toBe('TimerFired');
    expect(after.events.some((e) => e.type === 'FailoverCompleted')).toBe(true);
    const before = WorkloadEventsPageSchema.parse((await get(`/api/v1/workloads/w2/events?to=${iso}&limit=10000`)).body);
    expect(before.events.map((e) => e.position)).toEqual(Array.from({ length: firstPart }, (_, i) => i + 1));
    expect(before.next).toBeUndefined();
    const recent = WorkloadEventsPageSchema.parse((await get('/api/v1/workloads/w2/events?from=-10m&limit=10000')).body);
    expect(recent.events.length).toBeGreaterThanOrEqual(total);
    expect(WorkloadEventsPageSchema.parse((await get('/api/v1/workloads/w2/events?to=-10m')).body).events).toEqual([]);

    const page = WorkloadEventsPageSchema.parse((await get('/api/v1/workloads/w2/events?fromPosition=3&limit=5')).body);
    expect(page.events.map((e) => e.position)).toEqual([3, 4, 5, 6, 7]);
    expect(page.next).toBe(8);
    const timePage = WorkloadEventsPageSchema.parse((await get(`/api/v1/workloads/w2/events?from=${iso}&limit=2`)).body);
    expect(timePage.events.map((e) => e.position)).toEqual([firstPart + 1, firstPart + 2]);
    expect(timePage.next).toBe(firstPart + 3);

    const bad = await get('/api/v1/workloads/w2/events?from=last-tuesday');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'BAD_QUERY', field: 'from', message: expect.stringMatching(/^from: expected an ISO-8601 time/) } });
    expect((await get('/api/v1/workloads/w2/events?to=2026-02-30')).body).toMatchObject({ error: { field: 'to' } });
    expect((await get('/api/v1/workloads/w2/events?since=1h')).status).toBe(400);
  });

  it('state?at=: before the failover A was primary at epoch 0; now B at epoch 1; nothing before registration', async () => {
    const then = WorkloadStateAtSchema.parse((await get(`/api/v1/workloads/w2/state?at=${new Date(middle).toISOString()}`)).body);
    expect(then.position).toBe(firstPart);
    expect(then.view).toMatchObject({ workloadId: 'w2', state: 'suspect', primarySite: 'A', epoch: 0 });
    expect(then.view.replicas.find((r) => r.siteId === 'B')).toMatchObject({ role: 'replica', lagSeconds: 0.5 });
    const now = WorkloadStateAtSchema.parse((await get('/api/v1/workloads/w2/state')).body);
    expect(now.view).toMatchObject({ state: 'failedOver', primarySite: 'B', epoch: 1 });
    expect(now.position).toBeGreaterThanOrEqual(total);
    const early = await get('/api/v1/workloads/w2/state?at=2000-01-01T00:00:00Z');
    expect(early.status).toBe(404);
    expect(early.body).toMatchObject({ error: { code: 'NO_HISTORY' } });
    expect((await get('/api/v1/workloads/w2/state?at=soon')).body).toMatchObject({ error: { code: 'BAD_QUERY', field: 'at' } });
    expect((await get('/api/v1/workloads/nope/state')).status).toBe(404);
  });

  it('failovers/:n/report: the recorded failover, timed phase by phase; latest = 1; unknown numbers 404, bad ones 400', async () => {
    const latest = FailoverReportSchema.parse((await get('/api/v1/workloads/w2/failovers/latest/report')).body);
    expect(latest).toMatchObject({
      number: 1,
      of: 1,
      outcome: 'completed',
      fromSite: 'A',
      toSite: 'B',
      epoch: 1,
      detectedAt: failedAt,
      decidedAt: failedAt + 1000,
      rtoMs: 300,
      totalMs: 1300,
      fencedBy: 'leaseExpiry',
      actor: { kind: 'coordinator' },
      dataLoss: { seconds: 0.5, positionGap: '100' },
    });
    expect(latest.phases.map((p) => [p.phase, p.durationMs])).toEqual([
      ['decision', 1000],
      ['select', 0], // the replica is chosen before the fence (invariant 1a)
      ['fence', 100],
      ['promote', 100],
      ['redirect', 100],
      ['verify', 0],
    ]);
    expect(latest.evidence).toContain('witness C cannot reach A');
    expect((await get('/api/v1/workloads/w2/failovers/1/report')).body).toEqual(latest);
    const missing = await get('/api/v1/workloads/w2/failovers/2/report');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'FAILOVER_NOT_FOUND', message: 'workload "w2" has failovers 1 to 1' } });
    expect((await get('/api/v1/workloads/w1/failovers/latest/report')).body).toMatchObject({ error: { message: 'workload "w1" has no failovers recorded' } });
    expect((await get('/api/v1/workloads/w2/failovers/zero/report')).body).toMatchObject({ error: { code: 'BAD_REQUEST', field: 'n' } });
    const records = (await get('/api/v1/workloads/w2/failovers')).body as { failovers: Array<{ fromSite: string; toSite: string; rtoMs: number }> };
    expect(records.failovers).toEqual([expect.objectContaining({ fromSite: 'A', toSite: 'B', rtoMs: 300, dataLossSeconds: 0.5 })]);
  });

  it('the OpenAPI document lists the new routes and their time parameters', async () => {
    const doc = (await get('/api/v1/openapi.json')).body as { paths: Record<string, { get?: { parameters?: Array<{ name: string }> } }> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/workloads/{id}/state', '/api/v1/workloads/{id}/failovers/{n}/report']));
    expect(doc.paths['/api/v1/workloads/{id}/events']?.get?.parameters?.map((p) => p.name)).toEqual(['id', 'from', 'to', 'fromPosition', 'limit']);
  });
});
