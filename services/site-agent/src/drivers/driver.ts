import type { CommandAction, DriverType, ReplicationStatus, WorkloadRole } from '@drc/contracts';
import type { Logger } from '@drc/runtime';

/**
 * The driver port: how an agent observes and changes one workload's copy at its site.
 * Every driver (sim, postgres, libvirt, exec) implements it and passes the driver contract suite.
 */

export interface ProbeResult {
  role: WorkloadRole;
  healthy: boolean;
  /** Why unhealthy, in the driver's words. */
  detail?: string;
  replication?: ReplicationStatus;
}

export interface ActionContext {
  commandId: string;
  epoch: number;
  /** Epoch ms after which the action must not start. */
  deadline: number;
  /** Aborted when the deadline passes or the agent shuts down. */
  signal: AbortSignal;
}

export interface ActionOutcome {
  /** Driver output recorded with the result (e.g. promoted position). */
  detail?: Record<string, unknown>;
}

export interface WorkloadDriver {
  readonly type: DriverType;
  /** Actions this driver can carry out; others are answered `failed: unsupported`. */
  readonly capabilities: ReadonlySet<CommandAction>;
  /** Health and replication state right now. Must not throw: report unhealthy instead. */
  probe(): Promise<ProbeResult>;
  /** Carries out one action. Throws DriverError (with a reason) when it fails. Must be idempotent. */
  execute(action: CommandAction, params: Record<string, unknown>, ctx: ActionContext): Promise<ActionOutcome>;
  close(): Promise<void>;
}

export interface DriverSetup {
  workloadId: string;
  siteId: string;
  /** Role this site's copy has in the configuration (primary or replica). */
  configuredRole: 'primary' | 'replica';
  /** The driver's settings merged with this site's settings (`driver.settings` ← `driver.sites[site]`). */
  settings: Record<string, unknown>;
  /** Other sites holding copies (primary first). */
  peers: { siteId: string; role: 'primary' | 'replica' }[];
  logger: Logger;
  /**
   * When the agent last heard another site's agent (the `sentAt` of its newest heartbeat), or
   * undefined. The simulator uses it to model replication from a site that went dark.
   */
  peerLastHeard?: (siteId: string) => number | undefined;
  /**
   * The driver settings another site's copy of this workload has (`driver.settings` ←
   * `driver.sites[site]`), e.g. where a reprotected PostgreSQL standby finds its new primary.
   */
  peerSettings?: (siteId: string) => Record<string, unknown> | undefined;
}

export type DriverFactory = (setup: DriverSetup) => Promise<WorkloadDriver>;

/** A failed driver action; `reason` is shown to operators and recorded in the stream. */
export class DriverError extends Error {
  readonly code = 'DRIVER_FAILED' as const;
  constructor(
    readonly reason: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
    this.name = 'DriverError';
  }
}

export function isDriverError(e: unknown): e is DriverError {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'DRIVER_FAILED';
}
