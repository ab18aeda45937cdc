import { z } from 'zod';
import { EpochMsSchema, IdSchema, SiteIdSchema, WorkloadIdSchema } from './ids';
import { ActorSchema, OperatorCommandNameSchema } from './workload';

/**
 * Recovery plans (runbooks): what operators run when a datacenter is lost, or rehearse in a
 * drill. A plan is ordered tiers (a tier starts when the one before has finished); inside a
 * tier, workloads move concurrently (bounded) unless one names another in `after`. Steps
 * before and after a tier run in order: hooks, approvals, wait-for conditions.
 */

/** failover: unplanned; migrate: planned, zero data loss; test: drill copies, production untouched; then cleanup, reprotect, failback. */
export const PlanModeSchema = z.enum(['failover', 'migrate', 'test', 'cleanup', 'reprotect', 'failback']);
export type PlanMode = z.infer<typeof PlanModeSchema>;

const modes = z.array(PlanModeSchema).min(1).optional();

/** A command on the coordinator host, or a webhook. Gets the plan, run, step, mode and workload as environment (or JSON body). */
export const HookSchema = z
  .strictObject({
    name: z.string().min(1).max(200).optional(),
    /** argv, run without a shell. */
    command: z.array(z.string().min(1)).min(1).optional(),
    /** POSTed a JSON body; a non-2xx answer fails the step. */
    url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }).optional(),
    timeoutMs: z.number().int().positive().max(3_600_000).default(30_000),
    /** A failure is a warning, not an error (the run goes on). */
    continueOnError: z.boolean().default(false),
    /** Modes the hook runs in (default: all). */
    modes,
  })
  .refine((h) => (h.command === undefined) !== (h.url === undefined), { message: 'expected exactly one of command or url' });
export type HookConfig = z.infer<typeof HookSchema>;

export const TierStepSchema = z.union([
  z.strictObject({ hook: HookSchema }),
  /** Pauses the run until an operator approves (API, CLI or dashboard). */
  z.strictObject({ approval: z.strictObject({ message: z.string().min(1).max(2000), modes }) }),
  /** Waits until every listed workload (default: the tier's) has replica lag at or below the bound. */
  z.strictObject({
    waitFor: z.strictObject({
      replicaLagBelowSeconds: z.number().nonnegative(),
      workloads: z.array(WorkloadIdSchema).optional(),
      timeoutMs: z.number().int().positive().max(86_400_000).default(300_000),
      modes,
    }),
  }),
]);
export type TierStep = z.infer<typeof TierStepSchema>;

export const TierWorkloadSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { id: v } : v),
  z.strictObject({
    id: WorkloadIdSchema,
    /** Workloads of the same tier that must have moved before this one starts. */
    after: z.array(WorkloadIdSchema).default([]),
    /** A failing pre-hook aborts this workload (as Orchestrator's PreFailover does); the rest go on. */
    pre: HookSchema.optional(),
    post: HookSchema.optional(),
    /** Where it goes (default: the plan's recoverySite, else the statechart's choice). */
    targetSite: SiteIdSchema.optional(),
  }),
);
export type TierWorkload = z.infer<typeof TierWorkloadSchema>;

export const TierSchema = z.strictObject({
  name: z.string().min(1).max(200),
  workloads: z.array(TierWorkloadSchema).default([]),
  /** Every workload of these groups joins the tier. */
  groups: z.array(IdSchema).default([]),
  before: z.array(TierStepSchema).default([]),
  after: z.array(TierStepSchema).default([]),
  /** At most this many of the tier's workloads move at once (default: the plan's). */
  concurrency: z.number().int().positive().optional(),
});
export type TierConfig = z.infer<typeof TierSchema>;

export const PlanConfigSchema = z.strictObject({
  name: IdSchema,
  description: z.string().max(2000).optional(),
  /** The site workloads are recovered to (default: each workload's best replica). */
  recoverySite: SiteIdSchema.optional(),
  concurrency: z.number().int().positive().max(10_000).default(8),
  tiers: z.array(TierSchema).min(1, { message: 'expected at least one tier' }),
  /** Start a failover run of this plan when the site is declared lost: at once, or after an approval. */
  trigger: z.strictObject({ siteLost: SiteIdSchema, start: z.enum(['automatic', 'approval']).default('approval') }).optional(),
});
export type PlanConfig = z.infer<typeof PlanConfigSchema>;

/** Who hears about failovers, approvals and plan runs. */
export const NotificationEventSchema = z.enum(['failover.started', 'failover.completed', 'approval.required', 'plan.started', 'plan.finished', 'primary.rogue']);
export type NotificationEvent = z.infer<typeof NotificationEventSchema>;
export const NotificationsSchema = z.strictObject({
  webhooks: z
    .array(z.strictObject({ url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }), events: z.array(NotificationEventSchema).min(1).optional(), timeoutMs: z.number().int().positive().default(5000) }))
    .default([]),
  /**
   * E-mail through an SMTP relay (e.g. the datacenter's MTA). STARTTLS is used when the relay
   * offers it; the password comes from the environment variable named by `passwordEnv`.
   */
  smtp: z
    .strictObject({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).default(25),
      secure: z.boolean().default(false),
      user: z.string().min(1).optional(),
      passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { message: 'expected an environment variable name' }).optional(),
      from: z.email({ message: 'expected an e-mail address' }),
      to: z.array(z.email({ message: 'expected an e-mail address' })).min(1),
      events: z.array(NotificationEventSchema).min(1).optional(),
      timeoutMs: z.number().int().positive().default(10_000),
    })
    .optional(),
});
export type NotificationsConfig = z.infer<typeof NotificationsSchema>;

// ---------------------------------------------------------------- compiled plan and its run

export const PlanStepKindSchema = z.enum(['hook', 'approval', 'waitFor', 'workload']);
/** One step of a compiled plan run. `after`: must have succeeded; `barrier`: must have ended (tier order). */
export const PlanStepSchema = z.strictObject({
  id: z.string().min(1).max(300),
  tier: z.number().int().nonnegative(),
  kind: PlanStepKindSchema,
  label: z.string(),
  after: z.array(z.string()),
  barrier: z.array(z.string()),
  /** Counts against the tier's concurrency. */
  slotGroup: z.string().optional(),
  /** A failure makes the run ERRORS (else WARNINGS). */
  critical: z.boolean(),
  workloadId: WorkloadIdSchema.optional(),
  command: OperatorCommandNameSchema.optional(),
  targetSite: SiteIdSchema.optional(),
  hook: HookSchema.optional(),
  message: z.string().optional(),
  waitFor: z.strictObject({ replicaLagBelowSeconds: z.number(), workloads: z.array(WorkloadIdSchema), timeoutMs: z.number().int().positive() }).optional(),
});
export type PlanStep = z.infer<typeof PlanStepSchema>;

export const StepStatusSchema = z.enum(['pending', 'running', 'awaitingApproval', 'done', 'failed', 'skipped', 'cancelled']);
export type StepStatus = z.infer<typeof StepStatusSchema>;
export const PlanRunResultSchema = z.enum(['SUCCESS', 'WARNINGS', 'ERRORS', 'CANCELLED']);
export type PlanRunResult = z.infer<typeof PlanRunResultSchema>;

export const PlanRunSetupSchema = z.strictObject({
  runId: IdSchema,
  plan: IdSchema,
  mode: PlanModeSchema,
  at: EpochMsSchema,
  actor: ActorSchema,
  reason: z.string().max(2000).optional(),
  concurrency: z.record(z.string(), z.number().int().positive()),
  steps: z.array(PlanStepSchema),
});
export type PlanRunSetup = z.infer<typeof PlanRunSetupSchema>;

const pat = EpochMsSchema;
/** Inputs of a plan run (recorded before they are acted upon, like a workload's). */
export const PlanRunInputSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('STEP_RESULT'), at: pat, stepId: z.string(), attempt: z.number().int().nonnegative(), status: z.enum(['done', 'failed']), reason: z.string().max(4000).optional(), output: z.record(z.string(), z.unknown()).optional() }),
  z.strictObject({ type: z.literal('STEP_APPROVE'), at: pat, stepId: z.string(), actor: ActorSchema }),
  z.strictObject({ type: z.literal('STEP_RETRY'), at: pat, stepId: z.string(), actor: ActorSchema }),
  z.strictObject({ type: z.literal('RUN_PAUSE'), at: pat, actor: ActorSchema }),
  z.strictObject({ type: z.literal('RUN_RESUME'), at: pat, actor: ActorSchema }),
  z.strictObject({ type: z.literal('RUN_CANCEL'), at: pat, actor: ActorSchema }),
]);
export type PlanRunInput = z.infer<typeof PlanRunInputSchema>;

/** What a plan run decided (stored events of its stream). */
export const PlanDecisionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('PlanRunStarted'), runId: z.string(), plan: z.string(), mode: PlanModeSchema, steps: z.number().int(), actor: ActorSchema, reason: z.string().optional() }),
  z.strictObject({ type: z.literal('StepStarted'), stepId: z.string(), kind: PlanStepKindSchema, attempt: z.number().int().nonnegative(), tier: z.number().int(), workloadId: z.string().optional(), command: z.string().optional(), targetSite: z.string().optional() }),
  z.strictObject({ type: z.literal('StepAwaitingApproval'), stepId: z.string(), message: z.string() }),
  z.strictObject({ type: z.literal('StepApproved'), stepId: z.string(), actor: ActorSchema }),
  z.strictObject({ type: z.literal('StepCompleted'), stepId: z.string(), attempt: z.number().int().nonnegative(), status: z.enum(['done', 'failed', 'skipped', 'cancelled']), reason: z.string().optional(), output: z.record(z.string(), z.unknown()).optional() }),
  z.strictObject({ type: z.literal('StepRetried'), stepId: z.string(), attempt: z.number().int().nonnegative(), actor: ActorSchema, reset: z.array(z.string()) }),
  z.strictObject({ type: z.literal('PlanRunPaused'), actor: ActorSchema }),
  z.strictObject({ type: z.literal('PlanRunResumed'), actor: ActorSchema }),
  z.strictObject({ type: z.literal('PlanRunCancelRequested'), actor: ActorSchema }),
  z.strictObject({ type: z.literal('PlanInputRejected'), input: z.string(), reason: z.string() }),
  z.strictObject({ type: z.literal('PlanRunFinished'), result: PlanRunResultSchema }),
]);
export type PlanDecision = z.infer<typeof PlanDecisionSchema>;

export const PlanStepViewSchema = z.strictObject({
  id: z.string(),
  tier: z.number().int(),
  kind: PlanStepKindSchema,
  label: z.string(),
  status: StepStatusSchema,
  attempt: z.number().int().nonnegative(),
  workloadId: z.string().optional(),
  startedAt: EpochMsSchema.optional(),
  endedAt: EpochMsSchema.optional(),
  reason: z.string().optional(),
  output: z.record(z.string(), z.unknown()).optional(),
  critical: z.boolean(),
});
export type PlanStepView = z.infer<typeof PlanStepViewSchema>;

export const PlanRunViewSchema = z.strictObject({
  runId: z.string(),
  plan: z.string(),
  mode: PlanModeSchema,
  state: z.enum(['running', 'paused', 'cancelling', 'finished']),
  result: PlanRunResultSchema.optional(),
  startedAt: EpochMsSchema,
  endedAt: EpochMsSchema.optional(),
  actor: ActorSchema,
  reason: z.string().optional(),
  steps: z.array(PlanStepViewSchema),
});
export type PlanRunView = z.infer<typeof PlanRunViewSchema>;

/** Pure. The stream of one plan run (every run's stream starts with PLAN_RUN_STREAM_PREFIX). */
export const PLAN_RUN_STREAM_PREFIX = 'planrun-';
export function planRunStream(runId: string): string {
  return `${PLAN_RUN_STREAM_PREFIX}${runId}`;
}

/** Body of `POST /api/v1/plans/:name/runs`. */
export const PlanRunRequestSchema = z.strictObject({ mode: PlanModeSchema, reason: z.string().max(2000).optional() });
/** Body of `POST /api/v1/plan-runs/:id/{approve,retry}`. */
export const PlanStepRequestSchema = z.strictObject({ step: z.string().min(1).max(300) });
