import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isCoordinatorError, type CoordinatorErrorCode } from '../errors';

/** Every `error.code` the HTTP API answers with: the core's codes and the API's own. */
export type ApiErrorCode =
  | CoordinatorErrorCode
  | 'BAD_REQUEST'
  | 'BAD_QUERY'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'NO_HISTORY'
  | 'NO_PROJECTIONS'
  | 'FAILOVER_NOT_FOUND'
  | 'COMMAND_NOT_FOUND'
  | 'COMMAND_NOT_ALLOWED'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'INTERNAL';

/** The one table from error codes to HTTP statuses. */
const HTTP_STATUS: Readonly<Record<ApiErrorCode, ContentfulStatusCode>> = {
  BAD_REQUEST: 400,
  BAD_QUERY: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  WORKLOAD_NOT_FOUND: 404,
  PLAN_NOT_FOUND: 404,
  PLAN_RUN_NOT_FOUND: 404,
  FAILOVER_NOT_FOUND: 404,
  COMMAND_NOT_FOUND: 404,
  NO_HISTORY: 404,
  NO_PROJECTIONS: 404,
  COMMAND_NOT_ALLOWED: 409,
  PLAN_INPUT_REJECTED: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  INTERNAL: 500,
  NOT_LEADER: 503,
};

/** Pure. The HTTP status of an error code. */
export function httpStatus(code: ApiErrorCode): ContentfulStatusCode {
  return HTTP_STATUS[code];
}

/** An API error with a stable code (its status comes from the code); the one error mapper turns it into a JSON response. */
export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get status(): ContentfulStatusCode {
    return HTTP_STATUS[this.code];
  }
}

/** Pure. A 400 naming the first offending field of a zod error (`where`: body, query). */
export function badRequest(where: string, issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): ApiError {
  const first = issues[0];
  const field = first && first.path.length > 0 ? first.path.map(String).join('.') : where;
  return new ApiError(where === 'query' ? 'BAD_QUERY' : 'BAD_REQUEST', `${field}: ${first?.message ?? 'invalid'}`, {
    field,
    issues: issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  });
}

/**
 * The one place errors become HTTP responses: `{ error: { code, message, ...details } }` with the
 * code's status. By type and code, never by message: an ApiError, a hono HTTPException
 * (HTTP_ERROR, its own status), a core error (its code); anything else is a 500 that shows no
 * internals.
 */
export function mapError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json({ error: { code: err.code, message: err.message, ...err.details } }, err.status);
  }
  if (err instanceof HTTPException) {
    return c.json({ error: { code: 'HTTP_ERROR', message: err.message } }, err.status);
  }
  if (isCoordinatorError(err)) {
    return c.json({ error: { code: err.code, message: err.message } }, HTTP_STATUS[err.code]);
  }
  return c.json({ error: { code: 'INTERNAL', message: 'internal error' } }, HTTP_STATUS.INTERNAL);
}
