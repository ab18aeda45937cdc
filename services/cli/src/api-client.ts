import {
  CommandRecordSchema,
  FailoverReportSchema,
  FailoversResponseSchema,
  WorkloadEventsPageSchema,
  WorkloadStateAtSchema,
  SiteViewSchema,
  WorkloadViewSchema,
  type CommandRecord,
  type CommandRequestBody,
  type FailoverRecord,
  type FailoverReport,
  type WorkloadStateAt,
  type SiteView,
  type WorkloadView,
} from '@drc/contracts';
import { z } from 'zod';

/** The coordinator API could not be reached or answered with an error. */
export class ApiUnavailableError extends Error {
  readonly code = 'API_UNAVAILABLE' as const;
  constructor(readonly url: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiUnavailableError';
  }
}

export class ApiResponseError extends Error {
  readonly code = 'API_ERROR' as const;
  constructor(readonly status: number, readonly body: unknown, message: string) {
    super(message);
    this.name = 'ApiResponseError';
  }
}

export function defaultApiUrl(): string {
  return process.env.DRC_API_URL ?? 'http://127.0.0.1:8080';
}

const ErrorBody = z.object({ error: z.looseObject({ code: z.string().optional(), message: z.string().optional(), state: z.string().optional(), commandId: z.string().optional() }) });

/** The outcome of POST /commands: accepted (202) or rejected by the statechart (409). */
export type CommandOutcome = { accepted: true; record: CommandRecord; location: string } | { accepted: false; state: string | undefined; reason: string; commandId: string | undefined };

export const CommandFollowSchema = CommandRecordSchema.extend({ workloadState: z.string().nullable(), settled: z.boolean().nullable() });
export type CommandFollow = z.infer<typeof CommandFollowSchema>;

export interface SseMessage {
  event: string;
  id?: string;
  data: string;
}

/** A small typed client of the coordinator's HTTP API; every response is parsed with the contracts' schemas. Methods throw ApiUnavailableError / ApiResponseError. */
export function createApiClient(baseUrl: string, token?: string) {
  const auth = (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
  async function call(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(new URL(path, baseUrl), { ...init, headers: { ...auth(), ...(init.headers as Record<string, string> | undefined) } });
    } catch (e) {
      throw new ApiUnavailableError(baseUrl, `cannot reach the coordinator API at ${baseUrl}: ${(e as Error).message} (start one, or set --api / DRC_API_URL)`, { cause: e });
    }
  }
  function failure(res: Response, body: unknown): ApiResponseError {
    const parsed = ErrorBody.safeParse(body);
    const msg = parsed.success ? (parsed.data.error.message ?? res.statusText) : res.statusText;
    const hint = res.status === 401 ? ' (set DRC_TOKEN or --token)' : '';
    return new ApiResponseError(res.status, body, `${res.status} ${msg}${hint}`);
  }
  async function get<T>(path: string, schema: z.ZodType<T>): Promise<T> {
    const res = await call(path);
    const body: unknown = await res.json().catch(() => undefined);
    if (!res.ok) throw failure(res, body);
    return schema.parse(body);
  }
  return {
    sites: () => get('/api/v1/sites', z.object({ sites: z.array(SiteViewSchema) })).then((r) => r.sites as SiteView[]),
    workloads: () => get('/api/v1/workloads', z.object({ workloads: z.array(WorkloadViewSchema) })).then((r) => r.workloads as WorkloadView[]),
    workload: (id: string) => get(`/api/v1/workloads/${encodeURIComponent(id)}`, WorkloadViewSchema),
    events: (id: string) =>
      get(
        `/api/v1/workloads/${encodeURIComponent(id)}/events`,
        z.object({ events: z.array(z.looseObject({ type: z.string(), position: z.number(), recordedAt: z.string().optional(), data: z.unknown(), metadata: z.looseObject({}).optional() })) }),
      ).then((r) => r.events),
    /** One page of a workload's events recorded within [from, to] (ISO times), from a stream position on. */
    eventsPage: (id: string, q: { from?: string | undefined; to?: string | undefined; fromPosition?: number | undefined; limit?: number | undefined }) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
      return get(`/api/v1/workloads/${encodeURIComponent(id)}/events?${params.toString()}`, WorkloadEventsPageSchema);
    },
    stateAt: (id: string, at?: string): Promise<WorkloadStateAt> =>
      get(`/api/v1/workloads/${encodeURIComponent(id)}/state${at !== undefined ? `?at=${encodeURIComponent(at)}` : ''}`, WorkloadStateAtSchema),
    failoverReport: (id: string, n: number | 'latest'): Promise<FailoverReport> =>
      get(`/api/v1/workloads/${encodeURIComponent(id)}/failovers/${encodeURIComponent(String(n))}/report`, FailoverReportSchema),
    failovers: (id?: string) =>
      get(id ? `/api/v1/workloads/${encodeURIComponent(id)}/failovers` : '/api/v1/failovers', FailoversResponseSchema).then((r) => r.failovers as FailoverRecord[]),
    commandStatus: (commandId: string) => get(`/api/v1/commands/${encodeURIComponent(commandId)}`, CommandFollowSchema),
    /** Sends an operator command; a 409 (not allowed in the current state) is an outcome, not an error. */
    async command(workloadId: string, body: CommandRequestBody, idempotencyKey?: string): Promise<CommandOutcome> {
      const res = await call(`/api/v1/workloads/${encodeURIComponent(workloadId)}/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
        body: JSON.stringify(body),
      });
      const json: unknown = await res.json().catch(() => undefined);
      if (res.status === 409) {
        const e = ErrorBody.parse(json).error;
        return { accepted: false, state: e.state, reason: e.message ?? 'not allowed now', commandId: e.commandId };
      }
      if (res.status !== 202) throw failure(res, json);
      return { accepted: true, record: CommandRecordSchema.parse(json), location: res.headers.get('location') ?? '' };
    },
    /** Follows /api/v1/stream, calling `onMessage` per SSE message; reconnects with Last-Event-ID until `signal` aborts. */
    async stream(onMessage: (m: SseMessage) => void, signal: AbortSignal): Promise<void> {
      let lastEventId: string | undefined;
      while (!signal.aborted) {
        let res: Response;
        try {
          res = await call('/api/v1/stream', { signal, headers: lastEventId ? { 'last-event-id': lastEventId } : {} });
        } catch (e) {
          if (signal.aborted) return;
          throw e;
        }
        if (!res.ok || !res.body) throw failure(res, await res.json().catch(() => undefined));
        const decoder = new TextDecoder();
        let buffer = '';
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            buffer += decoder.decode(chunk, { stream: true });
            let cut: number;
            while ((cut = buffer.indexOf('\n\n')) >= 0) {
              const m = parseSseBlock(buffer.slice(0, cut));
              buffer = buffer.slice(cut + 2);
              if (!m) continue;
              if (m.id) lastEventId = m.id;
              onMessage(m);
            }
          }
        } catch (e) {
          if (signal.aborted) return;
          if (!(e instanceof Error)) throw e;
        }
        if (!signal.aborted) await new Promise((r) => setTimeout(r, 1000));
      }
    },
  };
}
export type ApiClient = ReturnType<typeof createApiClient>;

/** Pure. One SSE message block (lines up to a blank line); undefined for a comment-only block. */
export function parseSseBlock(block: string): SseMessage | undefined {
  const m: SseMessage = { event: 'message', data: '' };
  let any = false;
  for (const line of block.split('\n')) {
    const i = line.indexOf(':');
    if (i === 0) continue;
    const k = i < 0 ? line : line.slice(0, i);
    const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (k === 'event') m.event = v;
    else if (k === 'id') m.id = v;
    else if (k === 'data') m.data += (m.data ? '\n' : '') + v;
    else continue;
    any = true;
  }
  return any ? m : undefined;
}
