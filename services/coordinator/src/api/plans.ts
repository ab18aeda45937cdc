import { PlanModeSchema, PlanRunRequestSchema, PlanStepRequestSchema, planRunStream, type PlanRunInput } from '@drc/contracts';
import type { EventStore } from '@drc/event-store';
import { Hono, type Context } from 'hono';
import type { Coordinator } from '../coordinator';
import { planRunReport } from '../plans/index';
import { actorOf, requireRole, type AuthVariables } from './auth';
import { ApiError, badRequest } from './errors';

async function jsonBody(c: Context): Promise<unknown> {
  return c.req.json().catch(() => {
    throw new ApiError('BAD_REQUEST', 'body: expected a JSON object', { field: 'body' });
  });
}

/**
 * Recovery plans and their runs:
 *   GET  /plans                      the configured plans
 *   GET  /plans/:name?mode=M         one plan and the steps a run in mode M would take
 *   POST /plans/:name/runs           start a run {mode, reason?} (Idempotency-Key: same key, same run)
 *   GET  /plan-runs                  every run, newest first
 *   GET  /plan-runs/:id              one run with its steps
 *   GET  /plan-runs/:id/events       the run's recorded stream (inputs and decisions)
 *   GET  /plan-runs/:id/report?format=json|md|html
 *   POST /plan-runs/:id/{approve,retry} {step}; /plan-runs/:id/{pause,resume,cancel}
 */
export function createPlanRoutes(co: Coordinator, store: EventStore): Hono<{ Variables: AuthVariables }> {
  const app = new Hono<{ Variables: AuthVariables }>();
  const plans = co.plans;
  const runOr404 = (id: string) => {
    const v = plans.view(id);
    if (!v) throw new ApiError('PLAN_RUN_NOT_FOUND', `unknown plan run "${id}"`);
    return v;
  };

  app.get('/plans', (c) => c.json({ plans: plans.plans().map((p) => ({ name: p.name, description: p.description ?? null, recoverySite: p.recoverySite ?? null, tiers: p.tiers.map((t) => t.name), trigger: p.trigger ?? null })) }));
  app.get('/plans/:name', (c) => {
    const plan = plans.plan(c.req.param('name'));
    if (!plan) throw new ApiError('PLAN_NOT_FOUND', `unknown plan "${c.req.param('name')}"`);
    const mode = PlanModeSchema.safeParse(c.req.query('mode') ?? 'failover');
    if (!mode.success) throw badRequest('query', mode.error.issues.map((i) => ({ ...i, path: ['mode'] })));
    return c.json({ plan, mode: mode.data, steps: plans.compile(plan, mode.data).steps });
  });

  const started = new Map<string, string>(); // Idempotency-Key → runId (this process; the run itself is durable)
  app.post('/plans/:name/runs', requireRole('operator'), async (c) => {
    const name = c.req.param('name');
    const parsed = PlanRunRequestSchema.safeParse(await jsonBody(c));
    if (!parsed.success) throw badRequest('body', parsed.error.issues);
    if (!plans.plan(name)) throw new ApiError('PLAN_NOT_FOUND', `unknown plan "${name}"`);
    const key = c.req.header('idempotency-key');
    if (key !== undefined) {
      if (key.length === 0 || key.length > 200) throw new ApiError('BAD_REQUEST', 'Idempotency-Key: expected 1 to 200 characters', { field: 'Idempotency-Key' });
      const existing = started.get(`${name}\n${key}`);
      if (existing && plans.view(existing)) return c.json(plans.view(existing), 200);
    }
    const view = await plans.startRun({ plan: name, mode: parsed.data.mode, actor: actorOf(c.get('principal')), ...(parsed.data.reason ? { reason: parsed.data.reason } : {}) });
    if (key !== undefined) started.set(`${name}\n${key}`, view.runId);
    return c.json(view, 202, { location: `/api/v1/plan-runs/${view.runId}` });
  });

  app.get('/plan-runs', (c) => c.json({ runs: plans.views() }));
  app.get('/plan-runs/:id', (c) => c.json(runOr404(c.req.param('id'))));
  app.get('/plan-runs/:id/events', async (c) => {
    const id = c.req.param('id');
    runOr404(id);
    const events = await store.readStream(planRunStream(id));
    return c.json({ events: events.map((e) => ({ position: e.position, type: e.type, recordedAt: e.recordedAt.toISOString(), data: e.data, metadata: e.metadata })) });
  });
  app.get('/plan-runs/:id/report', (c) => {
    const v = runOr404(c.req.param('id'));
    const format = c.req.query('format') ?? 'json';
    if (format !== 'json' && format !== 'md' && format !== 'html') throw new ApiError('BAD_QUERY', 'format: expected json, md or html', { field: 'format' });
    const r = planRunReport(v, format);
    if (format === 'json') return c.json(r);
    return c.body(r as string, 200, { 'content-type': format === 'md' ? 'text/markdown; charset=utf-8' : 'text/html; charset=utf-8' });
  });

  const input = (kind: 'approve' | 'retry' | 'pause' | 'resume' | 'cancel') =>
    app.post(`/plan-runs/:id/${kind}`, requireRole('operator'), async (c) => {
      const id = c.req.param('id');
      runOr404(id);
      const actor = actorOf(c.get('principal'));
      const at = Date.now();
      let inp: PlanRunInput;
      if (kind === 'approve' || kind === 'retry') {
        const body = PlanStepRequestSchema.safeParse(await jsonBody(c));
        if (!body.success) throw badRequest('body', body.error.issues);
        inp = { type: kind === 'approve' ? 'STEP_APPROVE' : 'STEP_RETRY', at, stepId: body.data.step, actor };
      } else {
        inp = { type: kind === 'pause' ? 'RUN_PAUSE' : kind === 'resume' ? 'RUN_RESUME' : 'RUN_CANCEL', at, actor };
      }
      // A refused input (PlanInputRejectedError) is a 409 PLAN_INPUT_REJECTED, by its code, in mapError.
      return c.json(await plans.input(id, inp, { actor, correlationId: `plan:${id}:${kind}` }));
    });
  for (const k of ['approve', 'retry', 'pause', 'resume', 'cancel'] as const) input(k);
  return app;
}
