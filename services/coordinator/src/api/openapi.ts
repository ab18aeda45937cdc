import {
  ApiErrorBodySchema,
  CommandRecordSchema,
  CommandRequestBodySchema,
  FailoverReportSchema,
  FailoversResponseSchema,
  ProjectionStatusSchema,
  SiteViewSchema,
  SitesResponseSchema,
  StreamStoredEventSchema,
  TIME_SPEC_HELP,
  WorkloadEventsPageSchema,
  WorkloadStateAtSchema,
  WorkloadViewSchema,
  WorkloadsResponseSchema,
} from '@drc/contracts';
import { z } from 'zod';

type Schema = Record<string, unknown>;

/** Pure. The JSON Schema of a contracts schema, as OpenAPI 3.1 takes it. */
function js(schema: z.ZodType): Schema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as Schema;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, description: string) => ({ description, content: { 'application/json': { schema: ref(name) } } });
const error = (description: string) => json('Error', description);
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const timeQuery = (name: string, description: string) => ({ name, in: 'query', schema: { type: 'string' }, description: `${description}: ${TIME_SPEC_HELP}` });
const read = (summary: string, okName: string, extra: Schema = {}) => ({
  summary,
  security: [{ bearer: [] }],
  responses: { 200: json(okName, 'OK'), 401: error('no or invalid token'), 403: error('role viewer needed'), 503: error('standby coordinator'), ...extra },
});

/**
 * Pure. The OpenAPI 3.1 document of /api/v1, generated from the contracts' zod schemas.
 * Commands use one route for every command (the body names it), so a client needs one call shape.
 */
export function buildOpenApiDocument(): Schema {
  return {
    openapi: '3.1.0',
    info: { title: 'drc coordinator API', version: '1.0.0', description: 'Status, failover history, operator commands and a live feed of a drc coordinator.' },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from the config file (auth.tokens, stored as sha256). Roles: viewer reads, operator sends commands, admin both.' } },
      schemas: {
        Error: js(ApiErrorBodySchema),
        SiteView: js(SiteViewSchema),
        WorkloadView: js(WorkloadViewSchema),
        Sites: js(SitesResponseSchema),
        Workloads: js(WorkloadsResponseSchema),
        WorkloadEvents: js(WorkloadEventsPageSchema),
        WorkloadStateAt: js(WorkloadStateAtSchema),
        FailoverReport: js(FailoverReportSchema),
        Failovers: js(FailoversResponseSchema),
        ProjectionStatus: js(ProjectionStatusSchema),
        CommandRequest: js(CommandRequestBodySchema),
        CommandRecord: js(CommandRecordSchema),
        StreamStoredEvent: js(StreamStoredEventSchema),
      },
    },
    paths: {
      '/api/v1/sites': { get: read('every site with its health', 'Sites') },
      '/api/v1/workloads': { get: read('every workload: state, roles, epoch, lag against RPO, last transition', 'Workloads') },
      '/api/v1/workloads/{id}': { get: { ...read('one workload', 'WorkloadView', { 404: error('unknown workload') }), parameters: [idParam] } },
      '/api/v1/workloads/{id}/events': {
        get: {
          ...read('the recorded events of a workload, oldest first; `next` is the fromPosition of the next page when more match', 'WorkloadEvents', { 400: error('bad query (field named)'), 404: error('unknown workload') }),
          parameters: [
            idParam,
            timeQuery('from', 'only events recorded at or after this time'),
            timeQuery('to', 'only events recorded at or before this time'),
            { name: 'fromPosition', in: 'query', schema: { type: 'integer', minimum: 1 }, description: 'first stream position to read' },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 } },
          ],
        },
      },
      '/api/v1/workloads/{id}/state': {
        get: {
          ...read('the workload as its history says it was at a moment: the stream folded up to the last event recorded at or before `at`', 'WorkloadStateAt', {
            400: error('bad query (field named)'),
            404: error('unknown workload, or nothing recorded by then'),
          }),
          parameters: [idParam, timeQuery('at', 'the moment (default: now)')],
        },
      },
      '/api/v1/workloads/{id}/failovers/{n}/report': {
        get: {
          ...read('one failover reconstructed from the stream: detection, decision, fence, promote, redirect and verify times, RTO, data loss, evidence, candidates, commands, actor', 'FailoverReport', {
            400: error('n is not a failover number'),
            404: error('unknown workload or failover'),
          }),
          parameters: [idParam, { name: 'n', in: 'path', required: true, schema: { oneOf: [{ type: 'integer', minimum: 1 }, { const: 'latest' }] }, description: '1-based failover number, or latest' }],
        },
      },
      '/api/v1/workloads/{id}/failovers': { get: { ...read('failover history of a workload: measured RTO and achieved data loss', 'Failovers', { 404: error('unknown workload') }), parameters: [idParam] } },
      '/api/v1/failovers': { get: read('failover history of every workload', 'Failovers') },
      '/api/v1/projections': { get: read('the read models in PostgreSQL (workloads, failovers): events applied, checkpoint, row counts', 'ProjectionStatus', { 404: error('no PostgreSQL event store: no read models') }) },
      '/api/v1/workloads/{id}/commands': {
        post: {
          summary: 'send an operator command (failover, switchover, failback, reprotect, drillStart, drillCleanup, approve, reject, pause, resume, acknowledge)',
          security: [{ bearer: [] }],
          parameters: [idParam, { name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 200 }, description: 'same key + same body: the same response, no second command; same key + another body: 422' }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('CommandRequest') } } },
          responses: {
            202: { ...json('CommandRecord', 'accepted and recorded; follow the Location header'), headers: { Location: { schema: { type: 'string' }, description: '/api/v1/commands/{commandId}' } } },
            400: error('bad body (field named)'),
            401: error('no or invalid token'),
            403: error('role operator needed'),
            404: error('unknown workload'),
            409: error('the statechart does not allow this command in the current state (error.state names it)'),
            422: error('Idempotency-Key reused with another body'),
            503: error('standby coordinator'),
          },
        },
      },
      '/api/v1/commands/{id}': { get: { ...read('what became of a command: accepted/rejected, state, the decisions it caused', 'CommandRecord', { 404: error('unknown command') }), parameters: [idParam] } },
      '/api/v1/stream': {
        get: {
          summary: 'live feed (text/event-stream): `stored` events (id = event-store checkpoint; resume with Last-Event-ID), `workload` view changes, `sites` views',
          security: [{ bearer: [] }],
          parameters: [{ name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } }, { name: 'access_token', in: 'query', schema: { type: 'string' }, description: 'for EventSource, which cannot send headers' }],
          responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: ref('StreamStoredEvent') } } }, 401: error('no or invalid token') },
        },
      },
      '/lb/workloads/{id}/primary/{site}': {
        get: {
          summary: 'load-balancer check: 200 only on the site that is primary now and reports so, with no fence pending or done there (unauthenticated)',
          parameters: [idParam, { name: 'site', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { 200: { description: 'primary', content: { 'text/plain': {} } }, 503: { description: 'not primary, moving, fence pending or done at the site, or unknown', content: { 'text/plain': {} } } },
        },
      },
      '/healthz': { get: { summary: 'liveness (unauthenticated)', responses: { 200: { description: 'alive' } } } },
      '/readyz': { get: { summary: 'readiness: store, NATS and leadership known (unauthenticated)', responses: { 200: { description: 'ready' }, 503: { description: 'starting' } } } },
      '/metrics': { get: { summary: 'Prometheus exposition (unauthenticated; scrape from the monitoring network)', responses: { 200: { description: 'text/plain; version=0.0.4' } } } },
    },
  };
}
