import { workloadStream } from '@drc/contracts';
import type { EventStore } from '@drc/event-store';
import { Hono } from 'hono';
import { z } from 'zod';
import type { Coordinator } from '../coordinator';
import { ApiError, mapError } from './errors';

export interface ApiDeps {
  coordinator: Coordinator;
  store: EventStore;
}

const EventsQuerySchema = z.strictObject({
  from: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().positive().max(10_000).optional(),
});

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** The HTTP API (hono). Pure wiring: every handler reads the coordinator's views or the store. */
export function createApi(deps: ApiDeps): Hono {
  const app = new Hono();
  app.onError(mapError);
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const co = deps.coordinator;
    const body = { coordinatorId: co.id, role: co.isLeader ? 'leader' : 'standby', leaderEpoch: co.leadership.leaderEpoch, leader: co.leadership.holder ?? null };
    return co.isReady ? c.json({ status: 'ready', ...body }) : c.json({ status: 'starting', ...body }, 503);
  });

  app.get('/metrics', async (c) => {
    const registry = deps.coordinator.metrics.registry;
    return c.body(await registry.metrics(), 200, { 'content-type': registry.contentType });
  });

  // Only the leader holds live workload state; a standby says where to go instead of answering stale.
  app.use('/api/v1/*', async (c, next) => {
    const co = deps.coordinator;
    if (!co.isLeader) {
      throw new ApiError(503, 'NOT_LEADER', `coordinator ${co.id} is a standby; the leader is ${co.leadership.holder ?? 'not known yet'}`, { leader: co.leadership.holder ?? null });
    }
    await next();
  });

  app.get('/api/v1/sites', (c) => c.json({ sites: deps.coordinator.siteViews() }));
  app.get('/api/v1/workloads', (c) => c.json({ workloads: deps.coordinator.workloadViews() }));
  app.get('/api/v1/workloads/:id', (c) => {
    const view = deps.coordinator.workloadView(c.req.param('id'));
    if (!view) throw new ApiError(404, 'WORKLOAD_NOT_FOUND', `unknown workload "${c.req.param('id')}"`);
    return c.json(view);
  });
  app.get('/api/v1/workloads/:id/events', async (c) => {
    const id = c.req.param('id');
    const view = deps.coordinator.workloadView(id);
    if (!view) throw new ApiError(404, 'WORKLOAD_NOT_FOUND', `unknown workload "${id}"`);
    const q = EventsQuerySchema.safeParse(c.req.query());
    if (!q.success) {
      const issue = q.error.issues[0];
      throw new ApiError(400, 'BAD_QUERY', `${issue?.path.join('.') ?? 'query'}: ${issue?.message ?? 'invalid'}`);
    }
    const events = await deps.store.readStream(workloadStream(id), {
      ...(q.data.from !== undefined ? { fromPosition: q.data.from } : {}),
      maxCount: q.data.limit ?? 1000,
    });
    const body = JSON.stringify(
      {
        workloadId: id,
        events: events.map((e) => ({
          id: e.id,
          position: e.position,
          globalPosition: e.globalPosition,
          type: e.type,
          data: e.data,
          metadata: e.metadata,
          recordedAt: e.recordedAt.toISOString(),
          hash: e.hash,
        })),
      },
      bigintSafe,
    );
    return c.body(body, 200, { 'content-type': 'application/json' });
  });
  return app;
}
