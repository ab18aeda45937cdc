import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** An API error with a stable code; the one error mapper turns it into a JSON response. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Pure. A 400 naming the first offending field of a zod error (`where`: body, query). */
export function badRequest(where: string, issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): ApiError {
  const first = issues[0];
  const field = first && first.path.length > 0 ? first.path.map(String).join('.') : where;
  return new ApiError(400, where === 'query' ? 'BAD_QUERY' : 'BAD_REQUEST', `${field}: ${first?.message ?? 'invalid'}`, {
    field,
    issues: issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  });
}

/** The one place errors become HTTP responses. */
export function mapError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json({ error: { code: err.code, message: err.message, ...err.details } }, err.status);
  }
  if (err instanceof HTTPException) {
    return c.json({ error: { code: 'HTTP_ERROR', message: err.message } }, err.status);
  }
  if (/unknown workload/.test(err.message)) {
    return c.json({ error: { code: 'WORKLOAD_NOT_FOUND', message: err.message } }, 404);
  }
  if ((err as { name?: string }).name === 'NotLeaderError') {
    return c.json({ error: { code: 'NOT_LEADER', message: err.message } }, 503);
  }
  return c.json({ error: { code: 'INTERNAL', message: 'internal error' } }, 500);
}
