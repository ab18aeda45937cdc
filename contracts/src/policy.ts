import { z } from 'zod';

export const FailoverModeSchema = z.enum(['automatic', 'approval', 'manual']);
export type FailoverMode = z.infer<typeof FailoverModeSchema>;

const positiveMs = z.number().int().positive({ message: 'expected a positive number of milliseconds' });

/** The decision policy of one workload. Every field changes some decision of the statechart. */
export const PolicySchema = z.strictObject({
  /** Recovery point objective: replication lag above this marks the workload degraded. */
  rpoSeconds: z.number().positive({ message: 'expected a positive number' }),
  /** Most data (in seconds of lag) an automatic promotion may lose; beyond it, a human approves. */
  maxDataLossSeconds: z.number().nonnegative({ message: 'expected zero or a positive number' }),
  failoverMode: FailoverModeSchema,
  /** How long a primary failure must persist before a failover starts. */
  debounceMs: z.number().int().nonnegative({ message: 'expected zero or a positive number of milliseconds' }),
  fenceTimeoutMs: positiveMs,
  promoteTimeoutMs: positiveMs,
  verifyTimeoutMs: positiveMs,
  /** Extra wait after a lease expired before the old primary counts as self-fenced. */
  fenceMarginMs: z.number().int().nonnegative(),
  /**
   * How long a failover waits for a promotable replica (site up, copy a healthy replica, lag
   * within the allowed data loss) before giving up with the primary untouched: nothing is fenced
   * until one is chosen. Every replica report in the meantime is a re-check. Optional, so
   * workloads registered before it existed keep their recorded policy.
   */
  replicaWaitMs: z.number().int().nonnegative().optional(),
  retries: z.number().int().nonnegative().max(100),
  /** Anti-flap: no second automatic failover within this window unless acknowledged. */
  cooldownSeconds: z.number().nonnegative(),
  autoReprotect: z.boolean(),
  autoFailback: z.boolean(),
});
export type Policy = z.infer<typeof PolicySchema>;

export const DEFAULT_POLICY: Policy = {
  rpoSeconds: 30,
  maxDataLossSeconds: 30,
  failoverMode: 'automatic',
  debounceMs: 2000,
  fenceTimeoutMs: 10_000,
  promoteTimeoutMs: 30_000,
  verifyTimeoutMs: 30_000,
  fenceMarginMs: 1000,
  replicaWaitMs: 5000,
  retries: 2,
  cooldownSeconds: 300,
  autoReprotect: true,
  autoFailback: false,
};

export const PartialPolicySchema = PolicySchema.partial();
export type PartialPolicy = z.infer<typeof PartialPolicySchema>;
