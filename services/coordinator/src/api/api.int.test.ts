import { spawnSync } from 'node:child_process';
import { CommandRecordSchema, createSubjects, parseDrcConfig, type DrcConfig } from '@drc/contracts';
import { createPostgresEventStore, type EventStore } from '@drc/event-store';
import { connectNats, createLogger, type NatsConnection } from '@drc/runtime';
import { createTestDatabase, deleteStreams, eventually, natsUrl, uniquePrefix, type TestDatabase } from '@drc/test-kit';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../coordinator';
import { createApi } from './app';
import { hashToken } from './auth';

const VIEWER = 'viewer-token-1';
const OPERATOR = 'operator-token-1';

describe('coordinator HTTP API - real coordinator, NATS and PostgreSQL', () => {
  let db: TestDatabase;
  let store: EventStore;
  let nc: NatsConnection;
  let coordinator: Coordinator;
  let app: ReturnType<typeof createApi>;
  const prefix = uniquePrefix('api');
  const warnings: string[] = [];

  const req = (path: string, init: RequestInit & { token?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token) headers.set('authorization', `Bearer ${init.token}`);
    return app.request(path, { ...init, headers });
  };
  const command = (id: string, body: unknown, token = OPERATOR, key?: string) =>
    req(`/api/v1/workloads/${id}/commands`, {
      method: 'POST',
      token,
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  beforeAll(async () => {
    db = await createTestDatabase('api');
    const parsed = parseDrcConfig({
      nats: { url: natsUrl(), prefix },
      coordinator: { startupGraceMs: 600_000 },
      sites: [{ id: 'A' }, { id: 'B' }],
      workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
      auth: {
        tokens: [
          { name: 'noc', sha256: hashToken(VIEWER), role: 'viewer' },
          { name: 'alice', sha256: hashToken(OPERATOR), role: 'operator' },
        ],
      },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const config: DrcConfig = parsed.value;
    store = createPostgresEventStore({ url: db.url });
    nc = await connectNats({ url: natsUrl(), name: 'api-test' });
    coordinator = new Coordinator({ config, store, nc, logger: createLogger('api-test').child({}, { level: 'silent' }), coordinatorId: 'api-coordinator' });
    await coordinator.start();
    await eventually(() => coordinator.isLeader && coordinator.hasWorkload('w1'), 15_000);
    app = createApi({ coordinator, store, auth: config.auth, nc, warn: (m) => warnings.push(m) });
  });

  afterAll(async () => {
    await coordinator?.stop();
    await nc?.close();
    await store?.close();
    await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_'));
    await db?.drop();
  });

  it('healthz, readyz, openapi and lb checks answer without a token', async () => {
    expect((await req('/healthz')).status).toBe(200);
    const ready = await req('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', role: 'leader', checks: { store: true, nats: true, leadership: true } });
    const doc = (await (await req('/api/v1/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/workloads/{id}/commands', '/api/v1/commands/{id}', '/api/v1/stream', '/lb/workloads/{id}/primary/{site}']));
    expect(JSON.stringify(doc.components.schemas.CommandRequest)).toContain('drillCleanup');
    const primary = await req('/lb/workloads/w1/primary/A');
    expect(primary.status).toBe(200);
    expect(await primary.text()).toBe('primary\n');
    expect((await req('/lb/workloads/w1/primary/B')).status).toBe(503);
    expect((await req('/lb/workloads/nope/primary/A')).status).toBe(503);
    expect(warnings).toEqual([]);
  });

  it('/metrics is valid Prometheus text exposition', async () => {
    const res = await req('/metrics');
    expect(res.status).toBe(200);
    const text = await res.text();
    const families = parsePrometheusTextFormat(text);
    expect(families.length).toBeGreaterThan(0);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error) {
      console.warn(`promtool not run (${promtool.error.message}); install Debian's prometheus package to check with it too`);
      return;
    }
    // promtool prints lint advice (naming) and exits 1 for it too; only a parse error is a failure here.
    expect(`${promtool.stdout}${promtool.stderr}`).not.toMatch(/error while linting|text format parsing error|parse error/i);
  });

  it('reads need a valid token: 401 without one, 401 for a wrong one', async () => {
    const none = await req('/api/v1/workloads');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await req('/api/v1/workloads', { token: 'nope' })).status).toBe(401);
    expect((await req('/api/v1/workloads', { headers: { authorization: 'Basic abc' } })).status).toBe(401);
  });

  it('sites, workloads, one workload, its events and failovers; 404 and 400 named', async () => {
    const sites = (await (await req('/api/v1/sites', { token: VIEWER })).json()) as { sites: Array<{ siteId: string }> };
    expect(sites.sites.map((s) => s.siteId).sort()).toEqual(['A', 'B']);
    const list = (await (await req('/api/v1/workloads', { token: VIEWER })).json()) as { workloads: Array<{ workloadId: string; primarySite: string }> };
    expect(list.workloads).toEqual([expect.objectContaining({ workloadId: 'w1', primarySite: 'A' })]);
    expect((await req('/api/v1/workloads/w1', { token: VIEWER })).status).toBe(200);
    const missing = await req('/api/v1/workloads/nope', { token: VIEWER });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'WORKLOAD_NOT_FOUND' } });
    const events = (await (await req('/api/v1/workloads/w1/events', { token: VIEWER })).json()) as { events: Array<{ type: string; globalPosition: string }> };
    expect(events.events[0]?.type).toBe('WorkloadRegistered');
    expect(typeof events.events[0]?.globalPosition).toBe('string');
    const bad = await req('/api/v1/workloads/w1/events?limit=zero', { token: VIEWER });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'BAD_QUERY', field: 'limit' } });
    const failovers = await req('/api/v1/workloads/w1/failovers', { token: VIEWER });
    expect(await failovers.json()).toEqual({ failovers: [] });
    expect((await req('/api/v1/failovers', { token: VIEWER })).status).toBe(200);
    expect((await req('/api/v1/workloads/nope/failovers', { token: VIEWER })).status).toBe(404);
  });

  it('commands: 403 for a viewer, 400 naming the field, 404 for an unknown workload', async () => {
    const forbidden = await command('w1', { command: 'pause' }, VIEWER);
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ error: { code: 'FORBIDDEN', requiredRole: 'operator' } });
    const badCommand = await command('w1', { command: 'explode' });
    expect(badCommand.status).toBe(400);
    expect(await badCommand.json()).toMatchObject({ error: { field: 'command' } });
    const badSite = await command('w1', { command: 'switchover', targetSite: 42 });
    expect(await badSite.json()).toMatchObject({ error: { field: 'targetSite' } });
    const notJson = await command('w1', '{"command":');
    expect(notJson.status).toBe(400);
    expect((await command('nope', { command: 'pause' })).status).toBe(404);
  });

  it('commands: 202 with Location; the command record names the actor, state and decisions; idempotency keys', async () => {
    const res = await command('w1', { command: 'pause', reason: 'maintenance' }, OPERATOR, 'key-1');
    expect(res.status).toBe(202);
    const record = CommandRecordSchema.parse(await res.json());
    expect(res.headers.get('location')).toBe(`/api/v1/commands/${record.commandId}`);
    expect(record).toMatchObject({ status: 'accepted', actor: { kind: 'operator', id: 'alice' } });
    expect(record.state).toMatch(/paused/);

    const followed = await req(res.headers.get('location') ?? '', { token: VIEWER });
    expect(followed.status).toBe(200);
    expect(await followed.json()).toMatchObject({ commandId: record.commandId, status: 'accepted' });
    expect((await req('/api/v1/commands/nope', { token: VIEWER })).status).toBe(404);

    // The command's events carry the operator as actor.
    const events = (await (await req('/api/v1/workloads/w1/events', { token: VIEWER })).json()) as { events: Array<{ type: string; metadata: { actor: unknown; correlationId: string } }> };
    const received = events.events.filter((e) => e.type === 'OperatorCommandReceived');
    expect(received.at(-1)?.metadata).toMatchObject({ actor: { kind: 'operator', id: 'alice' }, correlationId: record.commandId });

    const again = await command('w1', { command: 'pause', reason: 'maintenance' }, OPERATOR, 'key-1');
    expect(again.status).toBe(202);
    expect(((await again.json()) as { commandId: string }).commandId).toBe(record.commandId);
    const after = (await (await req('/api/v1/workloads/w1/events', { token: VIEWER })).json()) as { events: Array<{ type: string }> };
    expect(after.events.filter((e) => e.type === 'OperatorCommandReceived').length).toBe(received.length);

    const reused = await command('w1', { command: 'resume' }, OPERATOR, 'key-1');
    expect(reused.status).toBe(422);
    expect(await reused.json()).toMatchObject({ error: { code: 'IDEMPOTENCY_KEY_REUSED' } });
  });

  it('commands: 409 with the current state when the statechart does not allow the command now', async () => {
    // w1 is paused (previous test): a failover is not allowed in maintenance.
    const res = await command('w1', { command: 'failover', targetSite: 'B' });
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: { code: string; state: string; commandId: string } };
    expect(body.error.code).toBe('COMMAND_NOT_ALLOWED');
    expect(body.error.state).toMatch(/paused/);
    const rec = await (await req(`/api/v1/commands/${body.error.commandId}`, { token: VIEWER })).json();
    expect(rec).toMatchObject({ status: 'rejected' });
    const resumed = await command('w1', { command: 'resume' });
    expect(resumed.status).toBe(202);
  });

  it('SSE stream: sends stored events with the store checkpoint as id, and resumes after Last-Event-ID', async () => {
    const first = await readSse(await req('/api/v1/stream?from=start', { token: VIEWER }), (ms) => ms.filter((m) => m.event === 'stored').length >= 2);
    const stored = first.filter((m) => m.event === 'stored');
    expect(stored[0]?.id).toBeTruthy();
    expect(JSON.parse(stored[0]?.data ?? '{}')).toMatchObject({ workloadId: 'w1', type: 'WorkloadRegistered' });
    expect(first.some((m) => m.event === 'sites')).toBe(true);
    const resumed = await readSse(
      await req('/api/v1/stream', { token: VIEWER, headers: { 'last-event-id': stored[0]?.id ?? '' } }),
      (ms) => ms.some((m) => m.event === 'stored'),
    );
    const next = resumed.find((m) => m.event === 'stored');
    expect(JSON.parse(next?.data ?? '{}').position).toBe(2);
    expect((await req('/api/v1/stream')).status).toBe(401);
  });
});

interface SseMessage {
  event?: string;
  id?: string;
  data: string;
}

/** Reads SSE messages until `done` says so, then cancels the stream (the server cleans up). */
async function readSse(res: Response, done: (messages: SseMessage[]) => boolean): Promise<SseMessage[]> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const messages: SseMessage[] = [];
  let buffer = '';
  try {
    while (!done(messages)) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const m: SseMessage = { data: '' };
        for (const line of block.split('\n')) {
          const i = line.indexOf(':');
          if (i <= 0) continue;
          const k = line.slice(0, i);
          const v = line.slice(i + 1).replace(/^ /, '');
          if (k === 'event') m.event = v;
          else if (k === 'id') m.id = v;
          else if (k === 'data') m.data += v;
        }
        if (m.event || m.data) messages.push(m);
      }
    }
  } finally {
    await reader.cancel();
  }
  return messages;
}
