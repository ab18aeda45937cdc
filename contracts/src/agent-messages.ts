import { z } from 'zod';
import { EpochMsSchema, SiteIdSchema, WorkloadIdSchema } from './ids';

/** Largest agent message the coordinator accepts, in bytes (larger ones are dead-lettered). */
export const MAX_AGENT_MESSAGE_BYTES = 256 * 1024;

/**
 * A replication position, comparable across replicas of one workload: a non-negative
 * integer as a decimal string (PostgreSQL: the LSN as a byte offset; simulator: a counter).
 * Strings keep 64-bit values exact through JSON.
 */
export const ReplicationPositionSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,19})$/, { message: 'expected a non-negative integer as a decimal string' });

export const WorkloadRoleSchema = z.enum(['primary', 'replica', 'fenced', 'stopped', 'unknown']);
export type WorkloadRole = z.infer<typeof WorkloadRoleSchema>;

export const ReplicationStatusSchema = z.strictObject({
  /** Position this copy has applied (replica) or written (primary). */
  position: ReplicationPositionSchema,
  lagSeconds: z.number().nonnegative(),
  lagBytes: z.number().int().nonnegative().optional(),
  /** Upstream site this replica streams from, when known. */
  upstreamSite: SiteIdSchema.optional(),
});
export type ReplicationStatus = z.infer<typeof ReplicationStatusSchema>;

/**
 * One run of an agent process (its boot id): made afresh at every start and never persisted, so a
 * restarted agent, whose `seq` starts over, is not taken for a replay of the one before. Messages
 * are ordered per (agentId, incarnation); a later `startedAt` (then the larger `id`) is the newer run.
 */
export const AgentIncarnationSchema = z.strictObject({
  /** Random, unique per process start (a UUID). */
  id: z.string().min(1).max(64),
  /** When the process started, by its own clock. */
  startedAt: EpochMsSchema,
});
export type AgentIncarnation = z.infer<typeof AgentIncarnationSchema>;

/** Pure. Orders two incarnations of one agent: negative when `a` is the older run, 0 when they are the same run. */
export function compareIncarnations(a: AgentIncarnation, b: AgentIncarnation): number {
  if (a.startedAt !== b.startedAt) return a.startedAt - b.startedAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Every second by default (core NATS, not stored): the agent is alive and renews its lease. */
export const HeartbeatSchema = z.strictObject({
  kind: z.literal('heartbeat'),
  v: z.literal(1),
  siteId: SiteIdSchema,
  agentId: z.string().min(1).max(128),
  incarnation: AgentIncarnationSchema,
  /** Strictly increasing within one incarnation; a replayed or reordered heartbeat is ignored. */
  seq: z.number().int().nonnegative(),
  sentAt: EpochMsSchema,
  /** The lease the agent claims; it fences its own primaries when it lapses unrenewed. */
  leaseTtlMs: z.number().int().positive().max(600_000),
  /** Witness view: which other sites this agent can reach right now. */
  peers: z.record(SiteIdSchema, z.boolean()).default({}),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

export const WorkloadObservationSchema = z.strictObject({
  workloadId: WorkloadIdSchema,
  role: WorkloadRoleSchema,
  healthy: z.boolean(),
  /** Why unhealthy, in the driver's words. */
  detail: z.string().max(2000).optional(),
  replication: ReplicationStatusSchema.optional(),
  /** Newest epoch this agent has seen for the workload. */
  epoch: z.number().int().nonnegative().optional(),
});
export type WorkloadObservation = z.infer<typeof WorkloadObservationSchema>;

/** Health and replication state of the workloads a site runs (JetStream). */
export const ObservationSchema = z.strictObject({
  kind: z.literal('observation'),
  v: z.literal(1),
  siteId: SiteIdSchema,
  agentId: z.string().min(1).max(128),
  incarnation: AgentIncarnationSchema,
  /** Strictly increasing within one incarnation, like a heartbeat's. */
  seq: z.number().int().nonnegative(),
  observedAt: EpochMsSchema,
  workloads: z.array(WorkloadObservationSchema).max(10_000),
});
export type Observation = z.infer<typeof ObservationSchema>;

export const CommandActionSchema = z.enum([
  'fence',
  'unfence',
  'promote',
  'demote',
  'reprotect',
  'quiesce',
  'start',
  'stop',
  'redirect',
  'snapshot',
  'drillStart',
  'drillCleanup',
]);
export type CommandAction = z.infer<typeof CommandActionSchema>;

/**
 * A command from the coordinator to one site's agent. `commandId` is deterministic
 * (workload, epoch, action, attempt), so a re-dispatch after a crash is deduplicated by
 * the agent; `epoch` is the fencing token: agents refuse one older than they have seen.
 */
export const CommandSchema = z.strictObject({
  kind: z.literal('command'),
  v: z.literal(1),
  commandId: z.string().min(1).max(256),
  workloadId: WorkloadIdSchema,
  siteId: SiteIdSchema,
  action: CommandActionSchema,
  epoch: z.number().int().nonnegative(),
  issuedAt: EpochMsSchema,
  /** After this time the agent must not start the action. */
  deadline: EpochMsSchema,
  coordinatorId: z.string().min(1).max(128),
  /** The coordinator's leadership epoch (distinct from the workload epoch). */
  leaderEpoch: z.number().int().nonnegative().default(0),
  correlationId: z.string().max(256).optional(),
  params: z.record(z.string(), z.unknown()).default({}),
});
export type Command = z.infer<typeof CommandSchema>;
export type CommandInput = z.input<typeof CommandSchema>;

export const CommandStatusSchema = z.enum(['done', 'failed', 'refused']);
export type CommandStatus = z.infer<typeof CommandStatusSchema>;

export const CommandResultSchema = z.strictObject({
  kind: z.literal('commandResult'),
  v: z.literal(1),
  /** The agent process that sent it (a result kept from an earlier run is re-sent under the current one). */
  incarnation: AgentIncarnationSchema,
  commandId: z.string().min(1).max(256),
  workloadId: WorkloadIdSchema,
  siteId: SiteIdSchema,
  action: CommandActionSchema,
  epoch: z.number().int().nonnegative(),
  status: CommandStatusSchema,
  reason: z.string().max(4000).optional(),
  startedAt: EpochMsSchema,
  completedAt: EpochMsSchema,
  /** Driver output, e.g. the promoted position. */
  detail: z.record(z.string(), z.unknown()).default({}),
});
export type CommandResult = z.infer<typeof CommandResultSchema>;

export const AgentMessageSchema = z.discriminatedUnion('kind', [
  HeartbeatSchema,
  ObservationSchema,
  CommandResultSchema,
]);
export type AgentMessage = z.infer<typeof AgentMessageSchema>;

/** What the coordinator publishes on the dead-letter subject for a rejected message. */
export const DeadLetterSchema = z.strictObject({
  kind: z.literal('deadLetter'),
  v: z.literal(1),
  subject: z.string(),
  reason: z.string(),
  issues: z.array(z.strictObject({ path: z.string(), message: z.string() })).default([]),
  receivedAt: EpochMsSchema,
  /** The raw payload, truncated, as text (base64 when it is not UTF-8). */
  payload: z.string(),
  payloadEncoding: z.enum(['utf8', 'base64']),
  payloadBytes: z.number().int().nonnegative(),
});
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

/** Pure. Compares two replication positions (decimal strings): negative, zero or positive. */
export function comparePositions(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
