import { z } from 'zod';
import { IdSchema, SiteIdSchema, WorkloadIdSchema } from './ids';
import { DEFAULT_POLICY, PartialPolicySchema, type Policy } from './policy';
import { NotificationsSchema, PlanConfigSchema, type PlanConfig } from './plan';
import { safeParseWith, type ParseResult } from './validation';

export const DriverTypeSchema = z.enum(['sim', 'postgres', 'libvirt', 'exec']);
export type DriverType = z.infer<typeof DriverTypeSchema>;

/**
 * A workload's driver. `sites` holds per-site settings (connection, data directory, commands)
 * that only that site's agent reads; each driver validates its own settings.
 * The shorthand `driver: sim` means `{ type: sim }`.
 */
export const DriverConfigSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { type: v } : v),
  z.strictObject({
    type: DriverTypeSchema,
    settings: z.record(z.string(), z.unknown()).default({}),
    sites: z.record(SiteIdSchema, z.record(z.string(), z.unknown())).default({}),
  }),
);
export type DriverConfig = z.infer<typeof DriverConfigSchema>;

export const SiteConfigSchema = z.strictObject({
  id: SiteIdSchema,
  name: z.string().min(1).max(200).optional(),
  /** Lower is preferred when choosing a replica to promote. */
  priority: z.number().int().nonnegative().default(100),
  /** Workload slots available at this site (undefined: unlimited). */
  capacity: z.number().int().nonnegative().optional(),
  /**
   * Where this site's agent answers witness probes from the other sites' agents (direct, not
   * through NATS), e.g. `http://10.1.0.5:7811`. Without it the site's reachability is judged
   * on NATS alone, and a cut between it and the coordinator cannot be told from a site loss.
   */
  witnessUrl: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }).optional(),
});
export type SiteConfig = z.infer<typeof SiteConfigSchema>;

export const WorkloadKindSchema = z.enum(['database', 'vm', 'service']);

export const WorkloadConfigSchema = z.strictObject({
  id: WorkloadIdSchema,
  name: z.string().min(1).max(200).optional(),
  kind: WorkloadKindSchema.default('service'),
  group: IdSchema.optional(),
  driver: DriverConfigSchema,
  primarySite: SiteIdSchema,
  replicaSites: z.array(SiteIdSchema).min(1, { message: 'expected at least one replica site' }),
  rpoSeconds: z.number().positive({ message: 'expected a positive number' }).optional(),
  policy: PartialPolicySchema.default({}),
});
export type WorkloadConfig = z.infer<typeof WorkloadConfigSchema>;

export const CoordinatorSettingsSchema = z.strictObject({
  id: z.string().min(1).max(128).optional(),
  httpHost: z.string().default('127.0.0.1'),
  httpPort: z.number().int().min(0).max(65535).default(8080),
  /** A site is lost when no heartbeat renewed its lease for this long (and witnesses agree). */
  siteLeaseTtlMs: z.number().int().positive().default(3000),
  /** After start, no site is declared lost before this much time has passed. */
  startupGraceMs: z.number().int().nonnegative().default(5000),
  /** How many workload failovers a site loss starts at once. */
  siteLossConcurrency: z.number().int().positive().default(256),
  /** Leadership lease: a standby takes over this long after the leader stopped renewing. */
  leaderTtlMs: z.number().int().positive().default(3000),
  /**
   * A copy's moving position is re-recorded at most this often (changes of role, health or RPO
   * standing are recorded at once, and fresh facts always just before a failure is decided):
   * the stream records meaning, not every 1 Hz sample.
   */
  replicaRefreshMs: z.number().int().positive().default(30_000),
});

export const NatsSettingsSchema = z.strictObject({
  url: z.string().min(1).default('nats://127.0.0.1:4222'),
  prefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/).default('drc'),
  /**
   * How many servers of a NATS cluster hold each drc stream and the leader-election bucket:
   * 3 on a 3-node cluster, so one node lost stops nothing. 1 on a single server.
   */
  replicas: z.number().int().min(1).max(5).default(1),
});

/**
 * API bearer tokens. Only the sha256 (hex) of each token is stored, so the config file leaks
 * no credential. Absent: authentication is disabled (the coordinator warns at startup).
 */
export const AuthSettingsSchema = z.strictObject({
  tokens: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(200),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, { message: 'expected the sha256 of the token as 64 lowercase hex digits' }),
        role: z.enum(['viewer', 'operator', 'admin']),
      }),
    )
    .min(1, { message: 'expected at least one token (omit auth to disable authentication)' }),
});
export type AuthSettings = z.infer<typeof AuthSettingsSchema>;

export const DrcConfigSchema = z
  .strictObject({
    version: z.literal(1).default(1),
    nats: NatsSettingsSchema.default({ url: 'nats://127.0.0.1:4222', prefix: 'drc', replicas: 1 }),
    coordinator: CoordinatorSettingsSchema.default({
      httpHost: '127.0.0.1',
      httpPort: 8080,
      siteLeaseTtlMs: 3000,
      startupGraceMs: 5000,
      siteLossConcurrency: 256,
      leaderTtlMs: 3000,
      replicaRefreshMs: 30_000,
    }),
    defaults: z.strictObject({ policy: PartialPolicySchema.default({}) }).default({ policy: {} }),
    sites: z.array(SiteConfigSchema).min(1, { message: 'expected at least one site' }),
    workloads: z.array(WorkloadConfigSchema).default([]),
    auth: AuthSettingsSchema.optional(),
    plans: z.array(PlanConfigSchema).default([]),
    notifications: NotificationsSchema.default({ webhooks: [] }),
  })
  .superRefine((cfg, ctx) => {
    const siteIds = new Set<string>();
    cfg.sites.forEach((s, i) => {
      if (siteIds.has(s.id)) ctx.addIssue({ code: 'custom', path: ['sites', i, 'id'], message: `duplicate site id "${s.id}"` });
      siteIds.add(s.id);
    });
    const workloadIds = new Set<string>();
    cfg.workloads.forEach((w, i) => {
      if (workloadIds.has(w.id)) {
        ctx.addIssue({ code: 'custom', path: ['workloads', i, 'id'], message: `duplicate workload id "${w.id}"` });
      }
      workloadIds.add(w.id);
      if (!siteIds.has(w.primarySite)) {
        ctx.addIssue({ code: 'custom', path: ['workloads', i, 'primarySite'], message: `unknown site "${w.primarySite}"` });
      }
      const seen = new Set<string>();
      w.replicaSites.forEach((r, j) => {
        if (!siteIds.has(r)) {
          ctx.addIssue({ code: 'custom', path: ['workloads', i, 'replicaSites', j], message: `unknown site "${r}"` });
        } else if (r === w.primarySite) {
          ctx.addIssue({ code: 'custom', path: ['workloads', i, 'replicaSites', j], message: `replica site "${r}" is also the primary site` });
        } else if (seen.has(r)) {
          ctx.addIssue({ code: 'custom', path: ['workloads', i, 'replicaSites', j], message: `duplicate replica site "${r}"` });
        }
        seen.add(r);
      });
      for (const s of Object.keys(w.driver.sites)) {
        if (!siteIds.has(s)) ctx.addIssue({ code: 'custom', path: ['workloads', i, 'driver', 'sites', s], message: `unknown site "${s}"` });
      }
    });
    checkPlans(cfg, siteIds, workloadIds, ctx);
  });

/** Every name a plan uses must exist: sites, workloads, groups, and `after` inside the same tier. */
function checkPlans(cfg: { plans: PlanConfig[]; workloads: WorkloadConfig[] }, siteIds: Set<string>, workloadIds: Set<string>, ctx: z.RefinementCtx): void {
  const groups = new Set(cfg.workloads.flatMap((w) => (w.group ? [w.group] : [])));
  const names = new Set<string>();
  cfg.plans.forEach((p, i) => {
    const at = (...rest: PropertyKey[]) => ['plans', i, ...rest];
    if (names.has(p.name)) ctx.addIssue({ code: 'custom', path: at('name'), message: `duplicate plan name "${p.name}"` });
    names.add(p.name);
    if (p.recoverySite && !siteIds.has(p.recoverySite)) ctx.addIssue({ code: 'custom', path: at('recoverySite'), message: `unknown site "${p.recoverySite}"` });
    if (p.trigger && !siteIds.has(p.trigger.siteLost)) ctx.addIssue({ code: 'custom', path: at('trigger', 'siteLost'), message: `unknown site "${p.trigger.siteLost}"` });
    const inPlan = new Set<string>();
    p.tiers.forEach((t, ti) => {
      const inTier = new Set(t.workloads.map((w) => w.id));
      t.groups.forEach((g, gi) => {
        if (!groups.has(g)) ctx.addIssue({ code: 'custom', path: at('tiers', ti, 'groups', gi), message: `unknown group "${g}"` });
      });
      t.workloads.forEach((w, wi) => {
        if (!workloadIds.has(w.id)) ctx.addIssue({ code: 'custom', path: at('tiers', ti, 'workloads', wi, 'id'), message: `unknown workload "${w.id}"` });
        else if (inPlan.has(w.id)) ctx.addIssue({ code: 'custom', path: at('tiers', ti, 'workloads', wi, 'id'), message: `workload "${w.id}" appears twice in the plan` });
        inPlan.add(w.id);
        if (w.targetSite && !siteIds.has(w.targetSite)) ctx.addIssue({ code: 'custom', path: at('tiers', ti, 'workloads', wi, 'targetSite'), message: `unknown site "${w.targetSite}"` });
        w.after.forEach((a, ai) => {
          if (!inTier.has(a) || a === w.id) ctx.addIssue({ code: 'custom', path: at('tiers', ti, 'workloads', wi, 'after', ai), message: `"${a}" is not another workload of this tier` });
        });
      });
      for (const [k, steps] of [['before', t.before], ['after', t.after]] as const) {
        steps.forEach((st, si) => {
          if ('waitFor' in st) for (const [wi, w] of (st.waitFor.workloads ?? []).entries()) {
            if (!workloadIds.has(w)) ctx.addIssue({ code: 'custom', path: at('tiers', ti, k, si, 'waitFor', 'workloads', wi), message: `unknown workload "${w}"` });
          }
        });
      }
    });
  });
}
export type DrcConfig = z.infer<typeof DrcConfigSchema>;
export type DrcConfigInput = z.input<typeof DrcConfigSchema>;

/** Pure. Validates a parsed config document; every problem is named by its field path. */
export function parseDrcConfig(doc: unknown): ParseResult<DrcConfig> {
  return safeParseWith(DrcConfigSchema, doc);
}

/** Pure. The effective policy of a workload: built-in defaults ← config defaults ← workload. */
export function effectivePolicy(cfg: DrcConfig, workload: WorkloadConfig): Policy {
  return {
    ...DEFAULT_POLICY,
    ...stripUndefined(cfg.defaults.policy),
    ...stripUndefined(workload.policy),
    ...(workload.rpoSeconds !== undefined ? { rpoSeconds: workload.rpoSeconds } : {}),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
