import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { createBearerAuth, hashToken, requireRole, type AuthVariables } from './auth';
import { mapError } from './errors';
import { isMovingPrimary } from './lb';
import { buildOpenApiDocument } from './openapi';

function appWith(settings: Parameters<typeof createBearerAuth>[0]) {
  const app = new Hono<{ Variables: AuthVariables }>();
  app.onError(mapError);
  app.use('*', createBearerAuth(settings));
  app.get('/read', requireRole('viewer'), (c) => c.json({ who: c.get('principal') }));
  app.post('/act', requireRole('operator'), (c) => c.json({ who: c.get('principal') }));
  return app;
}

const settings = {
  tokens: [
    { name: 'noc', sha256: hashToken('v'), role: 'viewer' as const },
    { name: 'root', sha256: hashToken('a'), role: 'admin' as const },
  ],
};

describe('api auth - bearer tokens stored as sha256, roles viewer < operator < admin', () => {
  it('hashToken is the sha256 hex of the token', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('validates its options up front', () => {
    expect(() => createBearerAuth({ tokens: [{ name: 'x', sha256: 'nothex', role: 'viewer' }] })).toThrow(/sha256/);
    expect(() => requireRole('root' as never)).toThrow(/unknown role/);
  });

  it('401 without or with a wrong token, 403 for a weaker role, 200 otherwise', async () => {
    const app = appWith(settings);
    expect((await app.request('/read')).status).toBe(401);
    expect((await app.request('/read', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await app.request('/read', { headers: { authorization: 'Bearer v' } })).status).toBe(200);
    expect((await app.request('/read?access_token=v')).status).toBe(200);
    const forbidden = await app.request('/act', { method: 'POST', headers: { authorization: 'Bearer v' } });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ error: { code: 'FORBIDDEN', requiredRole: 'operator' } });
    // A query token is for EventSource (GET) only.
    expect((await app.request('/act?access_token=a', { method: 'POST' })).status).toBe(401);
    const admin = await app.request('/act', { method: 'POST', headers: { authorization: 'Bearer a' } });
    expect(await admin.json()).toEqual({ who: { name: 'root', role: 'admin' } });
  });

  it('without settings every caller passes (auth disabled)', async () => {
    const res = await appWith(undefined).request('/act', { method: 'POST' });
    expect(res.status).toBe(200);
  });
});

describe('lb checks - a moving primary answers 503 everywhere', () => {
  it('isMovingPrimary', () => {
    expect(isMovingPrimary('failingOver.fencing')).toBe(true);
    expect(isMovingPrimary('protected')).toBe(false);
    expect(isMovingPrimary('failedOver')).toBe(false);
    expect(isMovingPrimary('failingOver.awaitingReplica')).toBe(false);
    expect(isMovingPrimary('failingOver.promoting')).toBe(true);
  });
});

describe('openapi document - generated from the contracts', () => {
  it('names every command and declares bearer security', () => {
    const doc = buildOpenApiDocument() as { components: { securitySchemes: Record<string, unknown>; schemas: Record<string, { properties?: Record<string, unknown> }> } };
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const cmd = JSON.stringify(doc.components.schemas.CommandRequest?.properties?.command);
    for (const c of ['failover', 'switchover', 'failback', 'reprotect', 'drillStart', 'drillCleanup', 'approve', 'reject', 'pause', 'resume', 'acknowledge']) expect(cmd).toContain(`"${c}"`);
  });
});
