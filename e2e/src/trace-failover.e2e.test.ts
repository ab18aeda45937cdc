import { createServer, type Server } from 'node:http';
import { eventually, freePort } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEstate, type Estate } from './harness';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

/**
 * OpenTelemetry across processes: the coordinator and the agents export over OTLP/HTTP to a
 * receiver in this test (spans kept in memory here). One failover must produce a trace that
 * runs coordinator decision → agent command execution → coordinator decision on its result,
 * carried by the W3C trace context in NATS headers.
 */
describe('traces follow a failover from the coordinator to the agent and back', () => {
  let estate: Estate;
  let receiver: Server;
  const spans: Array<OtlpSpan & { scope: string }> = [];

  beforeAll(async () => {
    const port = await freePort();
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        try {
          const doc = JSON.parse(body) as { resourceSpans?: Array<{ scopeSpans?: Array<{ scope?: { name?: string }; spans?: OtlpSpan[] }> }> };
          for (const rs of doc.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) for (const sp of ss.spans ?? []) spans.push({ ...sp, scope: ss.scope?.name ?? '' });
        } catch {
          /* not JSON: ignored, the assertions below will tell */
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', r));
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: 2000, startupGraceMs: 2000 },
        defaults: { policy: { debounceMs: 500, fenceMarginMs: 300 } },
        sites: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
        workloads: [{ id: 'orders', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
      },
      'trace',
      { env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_BSP_SCHEDULE_DELAY: '200' } },
    );
  });
  afterAll(async () => {
    await estate?.stop();
    await new Promise((r) => receiver?.close(r));
  });

  it('finds one trace spanning the coordinator and the agent for the failover', async () => {
    await eventually(async () => (await estate.sites()).every((s) => s.status === 'up'), 30_000);
    await estate.agents.get('A')!.kill();
    await eventually(async () => (await estate.workload('orders')).state === 'failedOver', 30_000);
    // A clean stop flushes every process's spans.
    await Promise.all([estate.coordinator.stop(), estate.agents.get('B')!.stop(), estate.agents.get('C')!.stop()]);
    const byTrace = new Map<string, typeof spans>();
    for (const s of spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
    const crossing = [...byTrace.values()].find(
      (t) =>
        t.some((s) => s.scope === 'drc-coordinator' && s.name === 'decide COMMAND_RESULT') &&
        t.some((s) => s.scope === 'drc-site-agent' && s.name === 'execute command' && t.some((p) => p.scope === 'drc-coordinator' && p.spanId === s.parentSpanId)),
    );
    expect(crossing, `no trace crosses processes; scopes seen: ${[...new Set(spans.map((s) => `${s.scope}/${s.name}`))].join(', ')}`).toBeDefined();
    const agentSpan = crossing!.find((s) => s.scope === 'drc-site-agent')!;
    const resultDecision = crossing!.find((s) => s.name === 'decide COMMAND_RESULT')!;
    expect(resultDecision.parentSpanId).toBe(agentSpan.spanId); // the agent's result parented the coordinator's next decision
    // Agents' observations start traces too, and the coordinator joins them.
    expect([...byTrace.values()].some((t) => t.some((s) => s.name === 'observe') && t.some((s) => s.scope === 'drc-coordinator'))).toBe(true);
  });
});
