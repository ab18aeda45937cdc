import { createSubjects, type Actor, type DrcConfig, type OperatorCommandName, type SiteView, type Subjects, type WorkloadInput, type WorkloadView } from '@drc/contracts';
import type { EventStore } from '@drc/event-store';
import { createNatsBus, createNatsLeaseStore, systemClock, systemRandom, type Logger, type NatsConnection } from '@drc/runtime';
import type { Tracer } from '@opentelemetry/api';
import { CoordinatorCore, leaderBucketOf, type CoordinatorStats } from './core/index';
import { leaseRequestTimeoutMs, type LeadershipState } from './leadership/index';
import type { Origin, StepOutcome } from './loop/index';
import { createMetrics, type Metrics } from './metrics/index';
import type { Notifier, PlanManager } from './plans/index';

export type { CoordinatorStats };

export interface CoordinatorOptions {
  config: DrcConfig;
  store: EventStore;
  nc: NatsConnection;
  logger: Logger;
  coordinatorId?: string;
  now?: () => number;
  /** How often site leases are evaluated (ms). */
  tickMs?: number;
  /** Position/lag of an unchanged copy is re-recorded at most this often (ms). */
  replicaRefreshMs?: number;
  /** Leadership lease TTL (ms); a standby takes over this long after the leader stopped renewing. */
  leaderTtlMs?: number;
  /** OpenTelemetry tracer: one span per decision, parented by the agent message that caused it. */
  tracer?: Tracer;
}

/**
 * The coordinator process's shell: the coordinator core (core/) wired to NATS (the bus and the
 * leadership lease KV), the OS clock and crypto randomness, with Prometheus metrics. Decisions
 * live in the core; this file only connects ports, so the simulator runs the same core.
 */
export class Coordinator {
  readonly metrics: Metrics;
  private readonly core: CoordinatorCore;
  private readonly now: () => number;

  constructor(opts: CoordinatorOptions) {
    const { config, nc } = opts;
    this.now = opts.now ?? (() => systemClock.now());
    this.metrics = createMetrics(() => this, this.now);
    const leaderTtlMs = opts.leaderTtlMs ?? config.coordinator.leaderTtlMs;
    const { coordinatorId, tickMs, replicaRefreshMs, tracer, now } = opts;
    this.core = new CoordinatorCore({
      config,
      store: opts.store,
      logger: opts.logger,
      clock: systemClock,
      random: systemRandom,
      bus: createNatsBus(nc),
      leases: createNatsLeaseStore(nc, { bucket: leaderBucketOf(createSubjects(config.nats.prefix)), replicas: config.nats.replicas, requestTimeoutMs: leaseRequestTimeoutMs(leaderTtlMs) }),
      leaderTtlMs,
      metrics: this.metrics,
      ...(coordinatorId !== undefined ? { coordinatorId } : {}),
      ...(now !== undefined ? { now } : {}),
      ...(tickMs !== undefined ? { tickMs } : {}),
      ...(replicaRefreshMs !== undefined ? { replicaRefreshMs } : {}),
      ...(tracer !== undefined ? { tracer } : {}),
    });
  }

  get id(): string {
    return this.core.id;
  }
  get subjects(): Subjects {
    return this.core.subjects;
  }
  get stats(): CoordinatorStats {
    return this.core.stats;
  }
  get notifier(): Notifier {
    return this.core.notifier;
  }
  get plans(): PlanManager {
    return this.core.plans;
  }
  get isReady(): boolean {
    return this.core.isReady;
  }
  get isLeader(): boolean {
    return this.core.isLeader;
  }
  get leadership(): LeadershipState {
    return this.core.leadership;
  }

  /** Creates the streams and the lease bucket, joins the election; see CoordinatorCore.start. */
  start(): Promise<void> {
    return this.core.start();
  }
  stop(): Promise<void> {
    return this.core.stop();
  }
  onChange(listener: (view: WorkloadView) => void): () => void {
    return this.core.onChange(listener);
  }
  workloadViews(): WorkloadView[] {
    return this.core.workloadViews();
  }
  workloadView(id: string): WorkloadView | undefined {
    return this.core.workloadView(id);
  }
  siteViews(): SiteView[] {
    return this.core.siteViews();
  }
  hasWorkload(id: string): boolean {
    return this.core.hasWorkload(id);
  }
  /** Feeds one input to a workload's loop (also used by the API for operator commands). */
  submit(workloadId: string, input: WorkloadInput, origin: Origin): Promise<StepOutcome | undefined> {
    return this.core.submit(workloadId, input, origin);
  }
  /** An operator's command for one workload; see CoordinatorCore.operatorCommand. */
  operatorCommand(args: { workloadId: string; command: OperatorCommandName; actor: Actor; requestId: string; targetSite?: string; reason?: string; correlationId?: string }): ReturnType<CoordinatorCore['operatorCommand']> {
    return this.core.operatorCommand(args);
  }
  /** Resolves when every workload has processed what was submitted so far. */
  settled(): Promise<void> {
    return this.core.settled();
  }
}
