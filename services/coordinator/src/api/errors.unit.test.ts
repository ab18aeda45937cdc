import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { NotLeaderError, UnknownPlanError, UnknownPlanRunError, UnknownWorkloadError } from '../errors';
import { PlanInputRejectedError } from '../plans/index';
import { ApiError, mapError } from './errors';

function appThrowing(err: Error) {
  const app = new Hono();
  app.onError(mapError);
  app.get('/x', () => {
    throw err;
  });
  return app;
}

async function answer(err: Error) {
  const res = await appThrowing(err).request('/x');
  return { status: res.status, body: (await res.json()) as { error: Record<string, unknown> }, headers: res.headers };
}

/** Issue 18: errors become HTTP responses by type and code, once, never by matching message text. */
describe('api errors - one mapper, by code', () => {
  it('api errors - core errors answer with their code and its status', async () => {
    expect(await answer(new UnknownWorkloadError('w9'))).toMatchObject({ status: 404, body: { error: { code: 'WORKLOAD_NOT_FOUND', message: 'unknown workload "w9"' } } });
    expect(await answer(new NotLeaderError('input for w1 not processed'))).toMatchObject({ status: 503, body: { error: { code: 'NOT_LEADER', message: 'not the leader: input for w1 not processed' } } });
    expect(await answer(new UnknownPlanError('dc-a'))).toMatchObject({ status: 404, body: { error: { code: 'PLAN_NOT_FOUND' } } });
    expect(await answer(new UnknownPlanRunError('r1'))).toMatchObject({ status: 404, body: { error: { code: 'PLAN_RUN_NOT_FOUND' } } });
    expect(await answer(new PlanInputRejectedError('step s1 is not waiting'))).toMatchObject({ status: 409, body: { error: { code: 'PLAN_INPUT_REJECTED', message: 'step s1 is not waiting' } } });
  });

  it('api errors - an ApiError gets its status from its code, with its details and headers', async () => {
    const r = await answer(new ApiError('UNAUTHENTICATED', 'a bearer token is required', { hint: 'x' }, { 'www-authenticate': 'Bearer realm="drc"' }));
    expect(r).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'a bearer token is required', hint: 'x' } } });
    expect(r.headers.get('www-authenticate')).toBe('Bearer realm="drc"');
    expect(await answer(new ApiError('IDEMPOTENCY_KEY_REUSED', 'k'))).toMatchObject({ status: 422 });
    expect(await answer(new HTTPException(413, { message: 'too big' }))).toMatchObject({ status: 413, body: { error: { code: 'HTTP_ERROR', message: 'too big' } } });
  });

  it('api errors - message text decides nothing: an untyped error naming an unknown workload is a 500 that shows no internals', async () => {
    expect(await answer(new Error('unknown workload "w1"'))).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } }, headers: expect.anything() });
    const named = Object.assign(new Error('boom'), { name: 'NotLeaderError' });
    expect((await answer(named)).status).toBe(500);
    // A code the API does not know (a dependency's) is no HTTP status either.
    expect(await answer(Object.assign(new Error('lease lost'), { code: 'LEASE_CONFLICT' }))).toMatchObject({ status: 500, body: { error: { code: 'INTERNAL' } } });
  });
});
