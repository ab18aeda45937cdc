import { z } from 'zod';
import { CommandActionSchema, CommandStatusSchema, ReplicationPositionSchema } from './agent-messages';
import { EpochMsSchema, SiteIdSchema, WorkloadIdSchema } from './ids';
import { PolicySchema } from './policy';

/*
 * The workload statechart's language.
 *
 * Inputs are what the machine is fed (and what the stream records before anything acts);
 * decisions are what it outputs (recorded, then carried out by the runtime). Every input
 * carries `at`, the recorded time, so the machine never reads a clock and replay is exact.
 */

export const ReplicaSiteSchema = z.strictObject({
  siteId: SiteIdSchema,
  priority: z.number().int().nonnegative(),
  capacity: z.number().int().nonnegative().optional(),
});

/** What the machine starts from (recorded as the stream's first event, `WorkloadRegistered`). */
export const WorkloadSetupSchema = z.strictObject({
  workloadId: WorkloadIdSchema,
  primarySite: SiteIdSchema,
  /** Every site holding a copy, primary included, with its priority. */
  sites: z.array(ReplicaSiteSchema).min(2),
  policy: PolicySchema,
  epoch: z.number().int().nonnegative().default(0),
  at: EpochMsSchema,
});
export type WorkloadSetup = z.infer<typeof WorkloadSetupSchema>;

const at = EpochMsSchema;
const actor = z.strictObject({ kind: z.enum(['agent', 'operator', 'coordinator', 'system']), id: z.string().min(1).max(200) });
export const ActorSchema = actor;
export type Actor = z.infer<typeof ActorSchema>;

export const PrimaryFailedInputSchema = z.strictObject({
  type: z.literal('PRIMARY_FAILED'),
  at,
  siteId: SiteIdSchema,
  reason: z.enum(['siteLost', 'unhealthy', 'stopped']),
  /** Human-readable facts that justified the detection (lease age, witness votes, driver detail). */
  evidence: z.array(z.string().max(2000)).max(100),
  /** Set when the site's lease has expired: the agent has fenced itself after `fenceMarginMs`. */
  leaseExpiredAt: EpochMsSchema.optional(),
});

export const PrimaryRecoveredInputSchema = z.strictObject({
  type: z.literal('PRIMARY_RECOVERED'),
  at,
  siteId: SiteIdSchema,
});

export const ReplicaStatusInputSchema = z.strictObject({
  type: z.literal('REPLICA_STATUS'),
  at,
  siteId: SiteIdSchema,
  healthy: z.boolean(),
  role: z.enum(['primary', 'replica', 'fenced', 'stopped', 'unknown']).optional(),
  position: ReplicationPositionSchema.optional(),
  lagSeconds: z.number().nonnegative().optional(),
});

export const SiteStatusInputSchema = z.strictObject({
  type: z.literal('SITE_STATUS'),
  at,
  siteId: SiteIdSchema,
  status: z.enum(['up', 'lost']),
  leaseExpiredAt: EpochMsSchema.optional(),
  evidence: z.array(z.string().max(2000)).max(100).default([]),
});

export const CommandResultInputSchema = z.strictObject({
  type: z.literal('COMMAND_RESULT'),
  at,
  commandId: z.string().min(1),
  siteId: SiteIdSchema,
  action: CommandActionSchema,
  epoch: z.number().int().nonnegative(),
  status: CommandStatusSchema,
  reason: z.string().optional(),
  detail: z.record(z.string(), z.unknown()).default({}),
});

export const OperatorCommandNameSchema = z.enum([
  'failover',
  'switchover',
  'failback',
  'reprotect',
  'approve',
  'reject',
  'pause',
  'resume',
  'acknowledge',
  'drillStart',
  'drillCleanup',
]);
export type OperatorCommandName = z.infer<typeof OperatorCommandNameSchema>;

export const OperatorCommandInputSchema = z.strictObject({
  type: z.literal('OPERATOR_COMMAND'),
  at,
  command: OperatorCommandNameSchema,
  actor,
  requestId: z.string().min(1).max(200),
  targetSite: SiteIdSchema.optional(),
  reason: z.string().max(2000).optional(),
});

/** A delayed event the machine asked for (`after` / delayed `raise`), recorded when it fired. */
export const TimerFiredInputSchema = z.strictObject({
  type: z.literal('TIMER_FIRED'),
  at,
  timerId: z.string().min(1),
  /** The machine's own event, fed back verbatim. */
  event: z.looseObject({ type: z.string().min(1) }),
});

export const WorkloadInputSchema = z.discriminatedUnion('type', [
  PrimaryFailedInputSchema,
  PrimaryRecoveredInputSchema,
  ReplicaStatusInputSchema,
  SiteStatusInputSchema,
  CommandResultInputSchema,
  OperatorCommandInputSchema,
  TimerFiredInputSchema,
]);
export type WorkloadInput = z.infer<typeof WorkloadInputSchema>;
export type WorkloadInputType = WorkloadInput['type'];

/** Stored event type for each input (the stream reads as a story, not as machine events). */
export const INPUT_EVENT_TYPES = {
  PRIMARY_FAILED: 'PrimaryFailureObserved',
  PRIMARY_RECOVERED: 'PrimaryRecoveryObserved',
  REPLICA_STATUS: 'ReplicaStatusObserved',
  SITE_STATUS: 'SiteStatusObserved',
  COMMAND_RESULT: 'CommandResultReceived',
  OPERATOR_COMMAND: 'OperatorCommandReceived',
  TIMER_FIRED: 'TimerFired',
} as const satisfies Record<WorkloadInputType, string>;
export type InputEventType = (typeof INPUT_EVENT_TYPES)[WorkloadInputType];

// ---------------------------------------------------------------- decisions

export const CandidateSchema = z.strictObject({
  siteId: SiteIdSchema,
  eligible: z.boolean(),
  /** Every reason that counted for or against this candidate. */
  reasons: z.array(z.string()),
  position: ReplicationPositionSchema.optional(),
  lagSeconds: z.number().nonnegative().optional(),
  priority: z.number().int().nonnegative(),
});
export type Candidate = z.infer<typeof CandidateSchema>;

/** A command the machine wants sent; the runtime adds issuedAt, deadline, coordinator and leader epoch. */
export const CommandRequestSchema = z.strictObject({
  commandId: z.string().min(1),
  siteId: SiteIdSchema,
  action: CommandActionSchema,
  epoch: z.number().int().nonnegative(),
  timeoutMs: z.number().int().positive(),
  params: z.record(z.string(), z.unknown()).default({}),
});
export type CommandRequest = z.infer<typeof CommandRequestSchema>;

export const DecisionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('FailoverStarted'), mode: z.enum(['unplanned', 'planned']), fromSite: SiteIdSchema, reason: z.string(), evidence: z.array(z.string()), actor: actor.optional() }),
  z.strictObject({ type: z.literal('ApprovalRequired'), reason: z.string(), candidate: SiteIdSchema.optional() }),
  z.strictObject({ type: z.literal('ReplicaSelected'), chosen: SiteIdSchema.optional(), candidates: z.array(CandidateSchema) }),
  z.strictObject({ type: z.literal('CommandIssued'), command: CommandRequestSchema }),
  z.strictObject({ type: z.literal('FenceConfirmed'), siteId: SiteIdSchema, by: z.enum(['agent', 'leaseExpiry']), detail: z.string().optional() }),
  /**
   * Invariant 1 at any time: a copy reported a writable role (primary) without being the primary
   * at the current epoch. Recorded with the report that showed it; a fence at `epoch` follows.
   */
  z.strictObject({ type: z.literal('RoguePrimaryDetected'), siteId: SiteIdSchema, epoch: z.number().int().nonnegative(), evidence: z.array(z.string()) }),
  z.strictObject({ type: z.literal('PromoteConfirmed'), siteId: SiteIdSchema, epoch: z.number().int().nonnegative(), position: ReplicationPositionSchema.optional() }),
  z.strictObject({ type: z.literal('EpochAdvanced'), from: z.number().int().nonnegative(), to: z.number().int().nonnegative(), primarySite: SiteIdSchema }),
  z.strictObject({ type: z.literal('FailoverCompleted'), fromSite: SiteIdSchema, toSite: SiteIdSchema, epoch: z.number().int().nonnegative(), startedAt: EpochMsSchema, rtoMs: z.number().nonnegative(), dataLossSeconds: z.number().nonnegative().optional() }),
  z.strictObject({ type: z.literal('FailoverAborted'), reason: z.string() }),
  z.strictObject({ type: z.literal('Escalated'), reason: z.string(), step: z.string() }),
  z.strictObject({ type: z.literal('FailoverSuppressed'), reason: z.string() }),
  z.strictObject({ type: z.literal('ReprotectStarted'), siteId: SiteIdSchema }),
  z.strictObject({ type: z.literal('ReprotectCompleted'), siteId: SiteIdSchema }),
  z.strictObject({ type: z.literal('DrillStarted'), siteId: SiteIdSchema }),
  z.strictObject({ type: z.literal('DrillCompleted'), siteId: SiteIdSchema, result: z.enum(['passed', 'failed']), detail: z.string().optional() }),
  z.strictObject({ type: z.literal('OperatorCommandRejected'), requestId: z.string(), command: OperatorCommandNameSchema, reason: z.string() }),
]);
export type Decision = z.infer<typeof DecisionSchema>;
export type DecisionType = Decision['type'];

/** Recorded by the runtime after every input that changed the state value (not a machine action). */
export const StateChangedSchema = z.strictObject({
  type: z.literal('WorkloadStateChanged'),
  from: z.string(),
  to: z.string(),
  epoch: z.number().int().nonnegative(),
  primarySite: SiteIdSchema,
});
export type StateChanged = z.infer<typeof StateChangedSchema>;

// ---------------------------------------------------------------- read side

export const ReplicaViewSchema = z.strictObject({
  siteId: SiteIdSchema,
  role: z.enum(['primary', 'replica', 'fenced', 'stopped', 'unknown']),
  healthy: z.boolean(),
  position: ReplicationPositionSchema.optional(),
  lagSeconds: z.number().nonnegative().optional(),
  priority: z.number().int().nonnegative(),
});

/** What the API shows of one workload (derived purely from the machine's snapshot). */
export const WorkloadViewSchema = z.strictObject({
  workloadId: WorkloadIdSchema,
  state: z.string(),
  drill: z.string(),
  epoch: z.number().int().nonnegative(),
  primarySite: SiteIdSchema,
  replicas: z.array(ReplicaViewSchema),
  policy: PolicySchema,
  lastTransitionAt: EpochMsSchema.optional(),
  lastFailoverAt: EpochMsSchema.optional(),
  /**
   * Sites whose copy may have lost its writes to drc: a fence (or quiesce) sent and unanswered,
   * or confirmed done, since the site last got its role (kept by the runtime from the stream;
   * absent when none). A load balancer must not send writes there, whatever the state.
   */
  fencing: z.array(SiteIdSchema).optional(),
});
export type WorkloadView = z.infer<typeof WorkloadViewSchema>;

/** Pure. The workload stream name of a workload id. */
export function workloadStream(workloadId: string): string {
  return `workload-${workloadId}`;
}
