import type { AuthSettings } from '@drc/contracts';
import type { EventStore } from '@drc/event-store';
import { Hono } from 'hono';
import type { Coordinator } from '../coordinator';
import { dashboardHtml } from '../dashboard/index';
import { createBearerAuth, type AuthVariables } from './auth';
import { createCommandRoutes } from './commands';
import { ApiError, mapError } from './errors';
import { createLbRoutes } from './lb';
import { buildOpenApiDocument } from './openapi';
import { createPlanRoutes } from './plans';
import { createReadRoutes } from './reads';
import { createStreamRoutes } from './stream';

export interface ApiDeps {
  coordinator: Coordinator;
  store: EventStore;
  /** The config's `auth` section. Absent: authentication is disabled (warn at startup). */
  auth?: AuthSettings | undefined;
  /** The NATS connection, so /readyz can tell when it is closed. */
  nc?: { isClosed(): boolean } | undefined;
  /** Called once when auth is disabled (main.ts passes its logger's warn). */
  warn?: (message: string) => void;
  /** The read models' status (PostgreSQL event stores only), for GET /api/v1/projections. */
  projections?: { status(): Promise<unknown> } | undefined;
}

/** Not pure: probes the store with a cheap read; false after `ms` without an answer. */
async function storeAnswers(store: EventStore, ms = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([store.streamVersion('readyz-probe').then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The HTTP API (hono). Wiring only: every handler reads the coordinator's views or the store,
 * or sends an operator command through `coordinator.operatorCommand()`.
 * Unauthenticated on purpose: /healthz, /readyz (orchestrators' probes carry no tokens),
 * /metrics (Prometheus scrapes from the monitoring network; no workload data, only counters),
 * /lb/* (load balancers; a yes/no answer) and the dashboard's static page (it asks for a token
 * and calls the API with it). Everything under /api/v1 needs a bearer token.
 */
export function createApi(deps: ApiDeps): Hono<{ Variables: AuthVariables }> {
  const { coordinator: co, store } = deps;
  if (!deps.auth) deps.warn?.('API authentication is disabled: add an auth section with tokens to the config');
  const app = new Hono<{ Variables: AuthVariables }>();
  app.onError(mapError);
  app.notFound((c) => mapError(new ApiError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`), c));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const natsUp = deps.nc ? !deps.nc.isClosed() : true;
    const leadershipKnown = co.isLeader || co.leadership.holder !== undefined;
    const storeUp = await storeAnswers(store);
    const checks = { coordinator: co.isReady, store: storeUp, nats: natsUp, leadership: leadershipKnown };
    const body = { coordinatorId: co.id, role: co.isLeader ? 'leader' : 'standby', leaderEpoch: co.leadership.leaderEpoch, leader: co.leadership.holder ?? null, checks };
    return Object.values(checks).every(Boolean) ? c.json({ status: 'ready', ...body }) : c.json({ status: 'starting', ...body }, 503);
  });
  app.get('/metrics', async (c) => {
    const registry = co.metrics.registry;
    return c.body(await registry.metrics(), 200, { 'content-type': registry.contentType });
  });
  app.route('/lb', createLbRoutes(co));

  const html = dashboardHtml();
  app.get('/', (c) => c.html(html));
  app.get('/dashboard', (c) => c.html(html));

  app.get('/api/v1/openapi.json', (c) => c.json(buildOpenApiDocument()));
  app.use('/api/v1/*', createBearerAuth(deps.auth));
  // Only the leader holds live workload state; a standby says where to go instead of answering stale.
  app.use('/api/v1/*', async (c, next) => {
    if (!co.isLeader) {
      throw new ApiError('NOT_LEADER', `coordinator ${co.id} is a standby; the leader is ${co.leadership.holder ?? 'not known yet'}`, { leader: co.leadership.holder ?? null });
    }
    await next();
  });
  app.get('/api/v1/projections', async (c) => {
    if (!deps.projections) throw new ApiError('NO_PROJECTIONS', `read models are kept only with a PostgreSQL event store (this coordinator uses ${store.kind})`);
    return c.json(await deps.projections.status());
  });
  app.route('/api/v1', createReadRoutes(co, store));
  app.route('/api/v1', createCommandRoutes(co));
  app.route('/api/v1', createStreamRoutes(co, store));
  app.route('/api/v1', createPlanRoutes(co, store));
  return app;
}
