import { z } from 'zod';
import { EpochMsSchema, SiteIdSchema, WorkloadIdSchema } from './ids';
import { SiteViewSchema } from './sites';
import { ActorSchema, DecisionSchema, OperatorCommandNameSchema, WorkloadViewSchema } from './workload';

/*
 * Bodies of the coordinator's HTTP API (`/api/v1`). The OpenAPI document is generated from
 * these schemas, and the CLI parses every response with them.
 */

export const ApiErrorBodySchema = z.object({
  error: z.looseObject({ code: z.string(), message: z.string() }),
});
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;

export const SitesResponseSchema = z.object({ sites: z.array(SiteViewSchema) });
export const WorkloadsResponseSchema = z.object({ workloads: z.array(WorkloadViewSchema) });

/** POST /api/v1/workloads/:id/commands. */
export const CommandRequestBodySchema = z.strictObject({
  command: OperatorCommandNameSchema,
  targetSite: SiteIdSchema.optional(),
  reason: z.string().max(2000).optional(),
});
export type CommandRequestBody = z.infer<typeof CommandRequestBodySchema>;

/** What became of an operator command (GET /api/v1/commands/:id; also the 202/409 body). */
export const CommandRecordSchema = z.object({
  commandId: z.string(),
  workloadId: WorkloadIdSchema,
  command: OperatorCommandNameSchema,
  targetSite: SiteIdSchema.optional(),
  reason: z.string().optional(),
  actor: ActorSchema,
  status: z.enum(['pending', 'accepted', 'rejected', 'failed']),
  /** The workload's state after the command (before it, when rejected). */
  state: z.string().optional(),
  rejectionReason: z.string().optional(),
  decisions: z.array(DecisionSchema),
  requestedAt: EpochMsSchema,
});
export type CommandRecord = z.infer<typeof CommandRecordSchema>;

/** One completed failover, read from the `FailoverCompleted` decision in the workload's stream. */
export const FailoverRecordSchema = z.object({
  workloadId: WorkloadIdSchema,
  fromSite: SiteIdSchema,
  toSite: SiteIdSchema,
  epoch: z.number().int().nonnegative(),
  startedAt: EpochMsSchema,
  completedAt: EpochMsSchema,
  /** Measured recovery time: decision to start → verified on the new primary. */
  rtoMs: z.number().nonnegative(),
  /** Achieved data loss (seconds of replication lag given up); absent when not measured. */
  dataLossSeconds: z.number().nonnegative().optional(),
  streamPosition: z.number().int().positive(),
});
export type FailoverRecord = z.infer<typeof FailoverRecordSchema>;
export const FailoversResponseSchema = z.object({ failovers: z.array(FailoverRecordSchema) });

export const StoredEventBodySchema = z.object({
  id: z.string(),
  position: z.number().int(),
  globalPosition: z.string(),
  type: z.string(),
  data: z.unknown(),
  metadata: z.record(z.string(), z.unknown()),
  recordedAt: z.string(),
  hash: z.string(),
});
export const WorkloadEventsResponseSchema = z.object({ workloadId: WorkloadIdSchema, events: z.array(StoredEventBodySchema) });

/** Data of an SSE `event: stored` message on /api/v1/stream (its SSE id is the store checkpoint). */
export const StreamStoredEventSchema = z.object({
  stream: z.string(),
  workloadId: WorkloadIdSchema.optional(),
  position: z.number().int(),
  type: z.string(),
  data: z.unknown(),
  stateAfter: z.string().optional(),
  recordedAt: z.string(),
});
export type StreamStoredEvent = z.infer<typeof StreamStoredEventSchema>;

export const AuthRoleSchema = z.enum(['viewer', 'operator', 'admin']);
export type AuthRole = z.infer<typeof AuthRoleSchema>;

/** GET /api/v1/projections: how far the read models in PostgreSQL have followed the event log. */
export const ProjectionStatusSchema = z.object({
  schema: z.string(),
  /** Resume token of the last event applied; absent before the first. */
  checkpoint: z.string().optional(),
  eventsApplied: z.number().int().nonnegative(),
  workloads: z.number().int().nonnegative(),
  failovers: z.number().int().nonnegative(),
});
export type ProjectionStatus = z.infer<typeof ProjectionStatusSchema>;
