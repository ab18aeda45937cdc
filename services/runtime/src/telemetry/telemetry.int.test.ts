import { connectNats, type NatsConnection } from '@drc/runtime';
import { natsUrl, uniquePrefix } from '@drc/test-kit';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTelemetry,
  endDecisionSpan,
  extractTraceContext,
  injectTraceContext,
  installContextManager,
  runWithMessageContext,
  startDecisionSpan,
  startDispatchSpan,
  traceHeaders,
  traceIdOf,
  withDecisionSpan,
} from './index';

describe('telemetry - W3C trace context across NATS: agent message → decision span → dispatched command', () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connectNats({ url: natsUrl(), name: 'telemetry-test' });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it('an incoming message\u2019s trace context parents the decision span, which is injected into the command headers', async () => {
    const exporter = new InMemorySpanExporter();
    const agent = createTelemetry({ serviceName: 'drc-site-agent', exporter, env: {} });
    const coordinator = createTelemetry({ serviceName: 'drc-coordinator', exporter, env: {} });
    const prefix = uniquePrefix('otel');

    // The coordinator side: consume an observation, decide under its context, dispatch a command.
    const commandHeaders = new Promise<string>((resolve) => {
      nc.subscribe(`${prefix}.commands.B`, { max: 1, callback: (_e, m) => resolve(m.headers?.get('traceparent') ?? '') });
    });
    nc.subscribe(`${prefix}.observation.A`, {
      max: 1,
      callback: (_e, m) => {
        const parent = extractTraceContext(m.headers);
        const decision = startDecisionSpan(coordinator.tracer, { workloadId: 'w1', inputType: 'PRIMARY_FAILED' }, parent);
        const h = natsHeaders();
        const send = startDispatchSpan(coordinator.tracer, 'dispatch promote', trace.setSpan(parent, decision), h, { 'drc.site': 'B' });
        nc.publish(`${prefix}.commands.B`, 'promote', { headers: h });
        send.end();
        endDecisionSpan(decision, { stateAfter: 'failingOver', decisions: [{ type: 'FailoverStarted' }] });
      },
    });
    await nc.flush();

    // The agent side: an observation published under its own span.
    const observe = agent.tracer.startSpan('observe');
    const h = natsHeaders();
    injectTraceContext(observe, h);
    nc.publish(`${prefix}.observation.A`, 'obs', { headers: h });
    observe.end();

    const traceparent = await commandHeaders;
    await coordinator.forceFlush();
    const spans = exporter.getFinishedSpans();
    const decision = spans.find((s) => s.name === 'decide PRIMARY_FAILED');
    const dispatch = spans.find((s) => s.name === 'dispatch promote');
    expect(decision?.spanContext().traceId).toBe(observe.spanContext().traceId);
    expect(decision?.parentSpanContext?.spanId).toBe(observe.spanContext().spanId);
    expect(dispatch?.parentSpanContext?.spanId).toBe(decision?.spanContext().spanId);
    expect(traceparent).toBe(`00-${observe.spanContext().traceId}-${dispatch?.spanContext().spanId}-01`);
    expect(traceIdOf(observe)).toBe(observe.spanContext().traceId);
    expect(decision?.attributes['drc.state.after']).toBe('failingOver');
    await agent.shutdown();
    await coordinator.shutdown();
  });
});

describe('telemetry - with the AsyncLocalStorage context manager, the context follows awaits and queues', () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connectNats({ url: natsUrl(), name: 'telemetry-test-2' });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it('consumer → runWithMessageContext → queued withDecisionSpan → traceHeaders on the dispatched command', async () => {
    expect(installContextManager()).toBe(true);
    const exporter = new InMemorySpanExporter();
    const t = createTelemetry({ serviceName: 'drc-coordinator', exporter, env: {} });
    const prefix = uniquePrefix('otel2');
    let queue: Promise<unknown> = Promise.resolve();
    const received = new Promise<string>((resolve) => {
      nc.subscribe(`${prefix}.commands.B`, { max: 1, callback: (_e, m) => resolve(m.headers?.get('traceparent') ?? '') });
    });
    nc.subscribe(`${prefix}.observation.A`, {
      max: 1,
      callback: (_e, m) =>
        runWithMessageContext(m.headers, () => {
          // Like WorkloadRunner.submit: work chained on a queue runs later, in the submitter's context.
          queue = queue.then(() =>
            withDecisionSpan(t.tracer, { workloadId: 'w1', inputType: 'PRIMARY_FAILED' }, async () => {
              await new Promise((r) => setTimeout(r, 5));
              nc.publish(`${prefix}.commands.B`, 'promote', { headers: traceHeaders(natsHeaders()) });
              return { stateAfter: 'failingOver', decisions: [{ type: 'CommandIssued' }] };
            }),
          );
        }),
    });
    await nc.flush();
    const agentSpan = t.tracer.startSpan('agent observe');
    const h = natsHeaders();
    injectTraceContext(agentSpan, h);
    nc.publish(`${prefix}.observation.A`, 'obs', { headers: h });
    agentSpan.end();
    const traceparent = await received;
    await queue;
    const decision = exporter.getFinishedSpans().find((s) => s.name === 'decide PRIMARY_FAILED');
    expect(decision?.spanContext().traceId).toBe(agentSpan.spanContext().traceId);
    expect(decision?.parentSpanContext?.spanId).toBe(agentSpan.spanContext().spanId);
    expect(traceparent).toBe(`00-${agentSpan.spanContext().traceId}-${decision?.spanContext().spanId}-01`);
    await t.shutdown();
  });
});
