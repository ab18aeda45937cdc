import { createHash, timingSafeEqual } from 'node:crypto';
import type { Actor, AuthRole, AuthSettings } from '@drc/contracts';
import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors';

const RANK: Record<AuthRole, number> = { viewer: 1, operator: 2, admin: 3 };

export interface Principal {
  name: string;
  role: AuthRole;
}

/** The authenticated caller, set by the bearer-token middleware (`c.get('principal')`). */
export type AuthVariables = { principal: Principal | undefined };

/** Pure. sha256 hex of a token, as stored in the config's `auth.tokens[].sha256`. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Pure. The actor recorded on the events of a command sent by this principal. */
export function actorOf(principal: Principal | undefined): Actor {
  return { kind: 'operator', id: principal?.name ?? 'anonymous' };
}

/**
 * Bearer-token authentication (hono bearer-auth style): validates its options up front and
 * throws a TypeError for a malformed token list. Without `settings`, every request passes as
 * an anonymous admin (auth disabled; the caller warns at startup). EventSource cannot send
 * headers, so GET requests may also carry the token as `?access_token=`.
 */
export function createBearerAuth(settings: AuthSettings | undefined): MiddlewareHandler<{ Variables: AuthVariables }> {
  if (settings === undefined) {
    return async function bearerAuthDisabled(c, next) {
      c.set('principal', { name: 'anonymous', role: 'admin' });
      await next();
    };
  }
  const tokens = settings.tokens.map((t) => {
    if (!/^[0-9a-f]{64}$/.test(t.sha256)) throw new TypeError(`auth token "${t.name}": sha256 must be 64 lowercase hex digits`);
    if (!(t.role in RANK)) throw new TypeError(`auth token "${t.name}": unknown role "${String(t.role)}"`);
    return { name: t.name, role: t.role, digest: Buffer.from(t.sha256, 'hex') };
  });
  return async function bearerAuth(c, next) {
    const header = c.req.header('authorization');
    let token: string | undefined;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw new ApiError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"', {}, { 'www-authenticate': 'Bearer error="invalid_request"' });
      token = m[1];
    } else if (c.req.method === 'GET') {
      token = c.req.query('access_token');
    }
    if (!token) throw new ApiError('UNAUTHENTICATED', 'a bearer token is required', {}, { 'www-authenticate': 'Bearer realm="drc"' });
    const digest = Buffer.from(hashToken(token), 'hex');
    // Compare against every token in constant time so the response time does not reveal a near match.
    let found: Principal | undefined;
    for (const t of tokens) if (timingSafeEqual(t.digest, digest) && !found) found = { name: t.name, role: t.role };
    if (!found) throw new ApiError('UNAUTHENTICATED', 'invalid bearer token', {}, { 'www-authenticate': 'Bearer error="invalid_token"' });
    c.set('principal', found);
    await next();
  };
}

/** Middleware factory: 403 unless the authenticated principal has at least `role`. Throws a TypeError for an unknown role. */
export function requireRole(role: AuthRole): MiddlewareHandler<{ Variables: AuthVariables }> {
  if (!(role in RANK)) throw new TypeError(`unknown role "${String(role)}"`);
  return async function roleCheck(c, next) {
    const p = c.get('principal');
    if (!p || RANK[p.role] < RANK[role]) {
      throw new ApiError('FORBIDDEN', `this needs the ${role} role; token "${p?.name ?? '?'}" has ${p?.role ?? 'none'}`, { requiredRole: role });
    }
    await next();
  };
}
