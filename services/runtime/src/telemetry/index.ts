import { context, propagation, trace, SpanKind, SpanStatusCode, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor, SimpleSpanProcessor, TracerProvider, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';

/** The NATS message headers we need (nats.js `MsgHdrs` fits), so this module stays NATS-free. */
export interface HeaderCarrier {
  get(key: string): string;
  set(key: string, value: string): void;
  keys?(): string[];
}

const propagator = new W3CTraceContextPropagator();

export interface Telemetry {
  readonly tracer: Tracer;
  /** Flushes pending spans and stops exporting. */
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
}

export interface TelemetryOptions {
  serviceName: string;
  /** Tests pass an InMemorySpanExporter; otherwise OTLP/HTTP when `env.OTEL_EXPORTER_OTLP_ENDPOINT` is set. */
  exporter?: SpanExporter;
  env?: Record<string, string | undefined>;
}

/**
 * Not pure. A tracer for one process. Exports over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
 * is set (batching), to `exporter` when given (synchronously, for tests), else nowhere (spans
 * are still created, so trace ids still propagate through NATS headers). Never throws.
 */
export function createTelemetry(opts: TelemetryOptions): Telemetry {
  const env = opts.env ?? process.env;
  const processors: SpanProcessor[] = [];
  if (opts.exporter) processors.push(new SimpleSpanProcessor({ exporter: opts.exporter }));
  else if (env.OTEL_EXPORTER_OTLP_ENDPOINT) processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter() }));
  const provider = new TracerProvider({ spanProcessors: processors });
  return {
    tracer: provider.getTracer(opts.serviceName),
    shutdown: () => provider.shutdown(),
    forceFlush: () => provider.forceFlush(),
  };
}

/** Pure. The trace context carried by a message's headers (W3C traceparent/tracestate); ROOT when none. */
export function extractTraceContext(headers: HeaderCarrier | undefined): Context {
  if (!headers) return context.active();
  return propagator.extract(context.active(), headers, {
    get: (carrier, key) => {
      const v = carrier.get(key);
      return v === '' ? undefined : v;
    },
    keys: (carrier) => carrier.keys?.() ?? ['traceparent', 'tracestate'],
  });
}

/** Not pure: writes `traceparent` (and `tracestate`) of `ctx` (a span or a context) into the headers. */
export function injectTraceContext(ctx: Context | Span, headers: HeaderCarrier): void {
  const c = 'spanContext' in ctx ? trace.setSpan(context.active(), ctx) : ctx;
  propagator.inject(c, headers, { set: (carrier, key, value) => carrier.set(key, value) });
}

export interface DecisionSpanAttributes {
  workloadId: string;
  inputType: string;
  stateBefore?: string;
}

/**
 * Not pure. Starts the span of one decide-append-dispatch step, child of `parent` (the context
 * extracted from the agent message that caused it). End it with `endDecisionSpan`.
 */
export function startDecisionSpan(tracer: Tracer, attrs: DecisionSpanAttributes, parent: Context = context.active()): Span {
  return tracer.startSpan(
    `decide ${attrs.inputType}`,
    {
      kind: SpanKind.INTERNAL,
      attributes: { 'drc.workload.id': attrs.workloadId, 'drc.input.type': attrs.inputType, ...(attrs.stateBefore ? { 'drc.state.before': attrs.stateBefore } : {}) },
    },
    parent,
  );
}

/** Not pure. Records the step's outcome on its span and ends it. */
export function endDecisionSpan(span: Span, outcome: { stateAfter?: string; decisions?: ReadonlyArray<{ type: string }>; error?: unknown }): void {
  if (outcome.stateAfter) span.setAttribute('drc.state.after', outcome.stateAfter);
  if (outcome.decisions) span.setAttribute('drc.decisions', outcome.decisions.map((d) => d.type));
  if (outcome.error !== undefined) {
    span.recordException(outcome.error instanceof Error ? outcome.error : String(outcome.error));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** Not pure. A producer span for a message sent to an agent; its context is injected into `headers`. */
export function startDispatchSpan(tracer: Tracer, name: string, parent: Context, headers: HeaderCarrier, attributes: Record<string, string | number> = {}): Span {
  const span = tracer.startSpan(name, { kind: SpanKind.PRODUCER, attributes }, parent);
  injectTraceContext(span, headers);
  return span;
}

/** Pure. The trace id of a context, for the event metadata's `traceId` (undefined when none). */
export function traceIdOf(ctx: Context | Span): string | undefined {
  const sc = 'spanContext' in ctx ? ctx.spanContext() : trace.getSpanContext(ctx);
  return sc && trace.isSpanContextValid(sc) ? sc.traceId : undefined;
}

/**
 * Not pure. Runs one decide-append-dispatch step inside a decision span (child of the active
 * context: the agent message's, when the consumer ran the step under `runWithMessageContext`),
 * so commands dispatched inside `fn` carry it (`traceHeaders()`). Rethrows what `fn` throws.
 */
export async function withDecisionSpan<T extends { stateAfter?: string; decisions?: ReadonlyArray<{ type: string }> } | undefined>(
  tracer: Tracer,
  attrs: DecisionSpanAttributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const span = startDecisionSpan(tracer, attrs, context.active());
  try {
    const out = await context.with(trace.setSpan(context.active(), span), () => fn(span));
    endDecisionSpan(span, out ?? {});
    return out;
  } catch (e) {
    endDecisionSpan(span, { error: e });
    throw e;
  }
}

/** Not pure. Runs `fn` with the trace context carried by a NATS message's headers as the active context. */
export function runWithMessageContext<T>(headers: HeaderCarrier | undefined, fn: () => T): T {
  return context.with(extractTraceContext(headers), fn);
}

/**
 * Not pure. Writes the active trace context into `headers` (a fresh nats.js `headers()`), for
 * a message about to be published; returns them. Writes nothing when no span is active.
 */
export function traceHeaders<H extends HeaderCarrier>(headers: H): H {
  injectTraceContext(context.active(), headers);
  return headers;
}

export { installContextManager, AsyncLocalStorageContextManager } from './context-manager';
export { propagation, trace, context };
