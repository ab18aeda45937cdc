import { FailoverRecordSchema, workloadStream, type FailoverRecord } from '@drc/contracts';
import type { EventStore, StoredEvent } from '@drc/event-store';
import { Hono } from 'hono';
import { z } from 'zod';
import type { Coordinator } from '../coordinator';
import { requireRole, type AuthVariables } from './auth';
import { ApiError, badRequest } from './errors';

const EventsQuerySchema = z.strictObject({
  from: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().positive().max(10_000).optional(),
});

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
  const events = await store.readStream(workloadStream(workloadId));
  const out: FailoverRecord[] = [];
  for (const e of events) {
    if (e.type !== 'FailoverCompleted') continue;
    const d = e.data as Record<string, unknown>;
    const parsed = FailoverRecordSchema.safeParse({
      workloadId,
      fromSite: d.fromSite,
      toSite: d.toSite,
      epoch: d.epoch,
      startedAt: d.startedAt,
      completedAt: e.metadata.at ?? e.recordedAt.getTime(),
      rtoMs: d.rtoMs,
      dataLossSeconds: d.dataLossSeconds,
      streamPosition: e.position,
    });
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}

/** The read side for NOC screens: sites, workloads, events, failover history (viewer role). */
export function createReadRoutes(coordinator: Coordinator, store: EventStore): Hono<{ Variables: AuthVariables }> {
  const app = new Hono<{ Variables: AuthVariables }>();
  app.use('*', requireRole('viewer'));
  const mustExist = (id: string) => {
    const view = coordinator.workloadView(id);
    if (!view) throw new ApiError(404, 'WORKLOAD_NOT_FOUND', `unknown workload "${id}"`);
    return view;
  };

  app.get('/sites', (c) => c.json({ sites: coordinator.siteViews() }));
  app.get('/workloads', (c) => c.json({ workloads: coordinator.workloadViews() }));
  app.get('/workloads/:id', (c) => c.json(mustExist(c.req.param('id'))));
  app.get('/workloads/:id/events', async (c) => {
    const id = c.req.param('id');
    mustExist(id);
    const q = EventsQuerySchema.safeParse(c.req.query());
    if (!q.success) throw badRequest('query', q.error.issues);
    const events = await store.readStream(workloadStream(id), {
      ...(q.data.from !== undefined ? { fromPosition: q.data.from } : {}),
      maxCount: q.data.limit ?? 1000,
    });
    return c.json({ workloadId: id, events: events.map(storedEventBody) });
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
