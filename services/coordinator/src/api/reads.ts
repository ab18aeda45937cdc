import { FailoverNumberSchema, resolveTimeSpec, WorkloadEventsQuerySchema, WorkloadStateQuerySchema, workloadStream, type FailoverRecord, type WorkloadStateAt } from '@drc/contracts';
import type { EventStore, StoredEvent } from '@drc/event-store';
import { eventsBetween, failoverRecords, failoverReports, stateAt } from '@drc/history';
import { Hono } from 'hono';
import type { Coordinator } from '../coordinator';
import { requireRole, type AuthVariables } from './auth';
import { ApiError, badRequest } from './errors';

/** Events read from the store per round trip while filtering a stream by time. */
const READ_CHUNK = 2000;

/** Pure. The JSON body of a stored event (bigint global position as a string). */
export function storedEventBody(e: StoredEvent) {
  return {
    id: e.id,
    position: e.position,
    globalPosition: e.globalPosition.toString(),
    type: e.type,
    data: e.data,
    metadata: e.metadata,
    recordedAt: e.recordedAt.toISOString(),
    hash: e.hash,
  };
}

/**
 * Not pure (reads the store). The failovers of one workload, from the `FailoverCompleted`
 * decisions recorded in its stream, oldest first.
 */
export async function readFailovers(store: EventStore, workloadId: string): Promise<FailoverRecord[]> {
  return failoverRecords(workloadId, await store.readStream(workloadStream(workloadId)));
}

/**
 * Not pure (reads the store). Up to `limit` events of a stream from `fromPosition` on, recorded
 * within [from, to]; `next` is where to go on when more may match. Reads the stream in chunks.
 */
export async function readEventsPage(
  store: EventStore,
  stream: string,
  q: { from?: number | undefined; to?: number | undefined; fromPosition?: number | undefined; limit: number },
): Promise<{ events: StoredEvent[]; next?: number }> {
  const out: StoredEvent[] = [];
  let position = q.fromPosition ?? 1;
  const filtered = q.from !== undefined || q.to !== undefined;
  for (;;) {
    const want = filtered ? READ_CHUNK : q.limit + 1 - out.length;
    const batch = await store.readStream(stream, { fromPosition: position, maxCount: want });
    for (const e of filtered ? eventsBetween(batch, q) : batch) {
      if (out.length === q.limit) return { events: out, next: e.position };
      out.push(e);
    }
    if (batch.length < want) return { events: out };
    position = batch[batch.length - 1]!.position + 1;
  }
}

/** Pure. A time query parameter (already validated) in ms, relative forms against `now`. */
const timeParam = (spec: string | undefined, now: number) => (spec === undefined ? undefined : resolveTimeSpec(spec, now));

/** The read side for NOC screens: sites, workloads, events, failover history (viewer role). */
export function createReadRoutes(coordinator: Coordinator, store: EventStore): Hono<{ Variables: AuthVariables }> {
  const app = new Hono<{ Variables: AuthVariables }>();
  app.use('*', requireRole('viewer'));
  const mustExist = (id: string) => {
    const view = coordinator.workloadView(id);
    if (!view) throw new ApiError('WORKLOAD_NOT_FOUND', `unknown workload "${id}"`);
    return view;
  };

  app.get('/sites', (c) => c.json({ sites: coordinator.siteViews() }));
  app.get('/workloads', (c) => c.json({ workloads: coordinator.workloadViews() }));
  app.get('/workloads/:id', (c) => c.json(mustExist(c.req.param('id'))));
  app.get('/workloads/:id/events', async (c) => {
    const id = c.req.param('id');
    mustExist(id);
    const q = WorkloadEventsQuerySchema.safeParse(c.req.query());
    if (!q.success) throw badRequest('query', q.error.issues);
    const now = Date.now();
    const page = await readEventsPage(store, workloadStream(id), { from: timeParam(q.data.from, now), to: timeParam(q.data.to, now), fromPosition: q.data.fromPosition, limit: q.data.limit ?? 1000 });
    return c.json({ workloadId: id, events: page.events.map(storedEventBody), ...(page.next !== undefined ? { next: page.next } : {}) });
  });
  app.get('/workloads/:id/state', async (c) => {
    const id = c.req.param('id');
    mustExist(id);
    const q = WorkloadStateQuerySchema.safeParse(c.req.query());
    if (!q.success) throw badRequest('query', q.error.issues);
    const at = timeParam(q.data.at, Date.now()) ?? Date.now();
    const past = stateAt(await store.readStream(workloadStream(id)), at);
    if (!past) throw new ApiError('NO_HISTORY', `nothing was recorded for workload "${id}" at or before ${new Date(at).toISOString()}`);
    const body: WorkloadStateAt = {
      workloadId: id,
      at: new Date(at).toISOString(),
      position: past.position,
      ...(past.recordedAt !== undefined ? { recordedAt: new Date(past.recordedAt).toISOString() } : {}),
      view: past.view,
    };
    return c.json(body);
  });
  app.get('/workloads/:id/failovers/:n/report', async (c) => {
    const id = c.req.param('id');
    mustExist(id);
    const n = FailoverNumberSchema.safeParse(c.req.param('n'));
    if (!n.success) throw new ApiError('BAD_REQUEST', 'n: expected a failover number (1, 2, …) or "latest"', { field: 'n' });
    const reports = failoverReports(id, await store.readStream(workloadStream(id)));
    const report = n.data === 'latest' ? reports.at(-1) : reports[n.data - 1];
    if (!report) {
      const have = reports.length === 0 ? 'no failovers recorded' : `failovers 1 to ${reports.length}`;
      throw new ApiError('FAILOVER_NOT_FOUND', `workload "${id}" has ${have}`);
    }
    return c.json(report);
  });
  app.get('/workloads/:id/failovers', async (c) => {
    const id = c.req.param('id');
    mustExist(id);
    return c.json({ failovers: await readFailovers(store, id) });
  });
  app.get('/failovers', async (c) => {
    const all = await Promise.all(coordinator.workloadViews().map((w) => readFailovers(store, w.workloadId)));
    return c.json({ failovers: all.flat().sort((a, b) => a.completedAt - b.completedAt) });
  });
  return app;
}
