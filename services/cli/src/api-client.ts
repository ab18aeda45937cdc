import { SiteViewSchema, WorkloadViewSchema, type SiteView, type WorkloadView } from '@drc/contracts';
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

/** A small typed client of the coordinator's HTTP API; every response is parsed with the contracts' schemas. */
export function createApiClient(baseUrl: string, token?: string) {
  async function get<T>(path: string, schema: z.ZodType<T>): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, baseUrl), { headers: token ? { authorization: `Bearer ${token}` } : {} });
    } catch (e) {
      throw new ApiUnavailableError(baseUrl, `cannot reach the coordinator API at ${baseUrl}: ${(e as Error).message} (start one, or set --api / DRC_API_URL)`, { cause: e });
    }
    const body: unknown = await res.json().catch(() => undefined);
    if (!res.ok) {
      const msg = (body as { error?: { message?: string } } | undefined)?.error?.message ?? res.statusText;
      throw new ApiResponseError(res.status, body, `${res.status} ${msg}`);
    }
    return schema.parse(body);
  }
  return {
    sites: () => get('/api/v1/sites', z.object({ sites: z.array(SiteViewSchema) })).then((r) => r.sites as SiteView[]),
    workloads: () => get('/api/v1/workloads', z.object({ workloads: z.array(WorkloadViewSchema) })).then((r) => r.workloads as WorkloadView[]),
    workload: (id: string) => get(`/api/v1/workloads/${encodeURIComponent(id)}`, WorkloadViewSchema),
    events: (id: string) =>
      get(`/api/v1/workloads/${encodeURIComponent(id)}/events`, z.object({ events: z.array(z.looseObject({ type: z.string(), position: z.number() })) })).then((r) => r.events),
  };
}
export type ApiClient = ReturnType<typeof createApiClient>;
