import { createSubjects, type Actor, type Decision, type DrcConfig, type OperatorCommandName, type SiteView, type Subjects, type WorkloadInput, type WorkloadView } from '@drc/contracts';
import type { EventStore } from '@drc/event-store';
import { runWithMessageContext, type Bus, type BusConsumption, type Clock, type LeaseStore, type Logger, type Random, type TimerHandle } from '@drc/runtime';
import type { Tracer } from '@opentelemetry/api';
import { ObservationTracker, SiteTracker, siteTransitionInputs, siteTransitionMatters, type SiteTransition } from '../detection/index';
import { createCommandDispatcher } from '../dispatch/index';
import { AgentIngest, consumeAgentMessages, messageHeaders } from '../ingest/index';
import { LeaderElector, type LeadershipState } from '../leadership/index';
import { WorkloadSet, type Origin, type StepOutcome, type Writer } from '../loop/index';
import { Notifier, notifyDecisions, PlanManager } from '../plans/index';

/** What the core reports to metrics (the Prometheus metrics satisfy it). */
export interface CoreMetrics {
  onAppended(workloadId: string, decisions: ReadonlyArray<Decision>, appendMs: number): void;
  onDeadLetter(): void;
  onAgentMessage(kind: string): void;
}

export interface CoordinatorStats {
  deadLetters: number;
  inputs: number;
  staleDropped: number;
}

/** Everything the coordinator core reaches the world through (the production shell or the simulator). */
export interface CoordinatorCoreDeps {
  config: DrcConfig;
  store: EventStore;
  logger: Logger;
  clock: Clock;
  random: Random;
  /** Agent messages in (heartbeats, durable observations and results), commands and dead letters out. */
  bus: Bus;
  /** The leadership lease (its requests should give up after `leaseRequestTimeoutMs(ttl)`). */
  leases: LeaseStore;
  coordinatorId?: string;
  /** Overrides `clock.now` for the time inputs record (tests). */
  now?: () => number;
  /** How often site leases are evaluated (ms). */
  tickMs?: number;
  /** Position/lag of an unchanged copy is re-recorded at most this often (ms). */
  replicaRefreshMs?: number;
  /** Leadership lease TTL (ms); a standby takes over this long after the leader stopped renewing. */
  leaderTtlMs?: number;
  /** OpenTelemetry tracer: one span per decision, parented by the agent message that caused it. */
  tracer?: Tracer;
  metrics?: CoreMetrics;
}

/** Pure. The KV bucket of the leadership lease under a subject prefix (one per estate). */
export function leaderBucketOf(subjects: Subjects): string {
  return `${subjects.streams.agents.replace(/_AGENTS$/, '')}_LEADER`;
}

/**
 * The coordinator core: ingests agent messages, detects failures, runs one WorkloadRunner
 * (decide → append → dispatch) per protected workload while it leads, runs plans, and exposes
 * views. It reaches the world only through its deps (ports), so the production shell and the
 * simulator run the same code.
 */
export class CoordinatorCore {
  readonly id: string;
  readonly subjects: Subjects;
  readonly stats: CoordinatorStats = { deadLetters: 0, inputs: 0, staleDropped: 0 };
  readonly notifier: Notifier;
  readonly plans: PlanManager;
  readonly workloads: WorkloadSet;
  private readonly sites: SiteTracker;
  private readonly observations: ObservationTracker;
  private readonly ingest: AgentIngest;
  private readonly now: () => number;
  private readonly writer: Writer;
  /** The leadership election (read its state through `isLeader` and `leadership`). */
  readonly elector: LeaderElector;
  private unsubscribeHeartbeats?: () => void;
  private messages?: BusConsumption;
  private tick?: TimerHandle;
  private listeners = new Set<(view: WorkloadView) => void>();
  private ready = false;
  private stopping = false;
  private started = false;
  private activation: Promise<void> = Promise.resolve();
  private consuming = false;

  constructor(private readonly deps: CoordinatorCoreDeps) {
    const { config, clock } = deps;
    this.id = deps.coordinatorId ?? `coordinator-${deps.random.uuid().slice(0, 8)}`;
    this.now = deps.now ?? (() => clock.now());
    this.subjects = createSubjects(config.nats.prefix);
    const startedAt = this.now();
    this.writer = { coordinatorId: this.id, leaderEpoch: 0 };
    this.workloads = new WorkloadSet(this.stats);
    this.sites = new SiteTracker({
      sites: config.sites,
      defaultLeaseTtlMs: config.coordinator.siteLeaseTtlMs,
      graceUntil: startedAt + config.coordinator.startupGraceMs,
      blackoutGraceMs: config.coordinator.startupGraceMs,
    });
    this.observations = new ObservationTracker({ refreshMs: deps.replicaRefreshMs ?? config.coordinator.replicaRefreshMs });
    this.ingest = new AgentIngest({
      config,
      subjects: this.subjects,
      logger: deps.logger,
      bus: deps.bus,
      now: this.now,
      sites: this.sites,
      observations: this.observations,
      workloads: this.workloads,
      stats: this.stats,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
    });
    this.notifier = new Notifier(config.notifications, deps.logger, this.id, this.now);
    this.plans = new PlanManager({
      config,
      store: deps.store,
      writer: this.writer,
      logger: deps.logger,
      now: this.now,
      clock,
      random: deps.random,
      notifier: this.notifier,
      host: {
        operatorCommand: (a) => this.operatorCommand(a),
        workloadView: (id) => this.workloadView(id),
        canAct: () => this.isLeader,
      },
    });
    this.elector = new LeaderElector({
      leases: deps.leases,
      candidateId: this.id,
      ttlMs: deps.leaderTtlMs ?? config.coordinator.leaderTtlMs,
      logger: deps.logger,
      clock,
      now: this.now,
    });
  }

  get isReady(): boolean {
    return this.ready;
  }

  /**
   * Joins the election and keeps site leases warm. Only the leader rehydrates workloads,
   * consumes agent messages, appends and dispatches; a standby takes over within the
   * leadership TTL after the leader stops renewing.
   */
  async start(): Promise<void> {
    const { store, bus, logger, clock, config } = this.deps;
    await store.init();
    await bus.ensureStreams?.(this.subjects, { replicas: config.nats.replicas });
    this.unsubscribeHeartbeats = bus.subscribe(this.subjects.allHeartbeats(), (subject, data, headers) => {
      runWithMessageContext(messageHeaders(headers), () => this.ingest.onHeartbeat(subject, data));
    });
    this.tick = clock.setInterval(() => this.evaluateSites(), this.deps.tickMs ?? 200);
    this.elector.onChange((state) => {
      this.activation = this.activation.then(() => (state.leader ? this.activateUntilDone(state) : this.deactivate(state))).catch((e: unknown) => {
        logger.error({ err: e }, 'leadership change failed');
      });
    });
    this.started = true;
    await this.elector.start();
    await this.activation;
    this.ready = true;
    logger.info({ coordinatorId: this.id, role: this.isLeader ? 'leader' : 'standby', leaderEpoch: this.writer.leaderEpoch }, 'coordinator started');
  }

  get isLeader(): boolean {
    return this.started && this.elector.isLeader();
  }

  get leadership(): LeadershipState {
    return this.started ? this.elector.current : { leader: false, leaderEpoch: 0 };
  }

  /**
   * activate(), tried again while this coordinator still holds the lease of that epoch. A leader
   * that holds the lease but does not act blocks every failover until it dies: a NATS node
   * killed under it once made its consumer lookup time out, and it stayed so (chaos seed 1518).
   */
  private async activateUntilDone(state: LeadershipState): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.activate(state);
        return;
      } catch (e) {
        if (!this.isLeader || this.leadership.leaderEpoch !== state.leaderEpoch || this.stopping) throw e;
        const retryInMs = Math.min(5_000, 250 * 2 ** attempt);
        this.deps.logger.warn({ err: e, attempt, retryInMs, leaderEpoch: state.leaderEpoch }, 'could not take up the lead; trying again');
        await this.deps.clock.sleep(retryInMs);
      }
    }
  }

  /** Becomes the acting coordinator: rehydrate every workload from the store, re-arm, consume. */
  private async activate(state: LeadershipState): Promise<void> {
    const { config, store, logger, bus, clock } = this.deps;
    this.writer.leaderEpoch = state.leaderEpoch;
    await this.workloads.startAll(
      config,
      {
        store,
        writer: this.writer,
        logger,
        now: this.now,
        clock,
        dispatch: createCommandDispatcher(bus, this.subjects),
        canAct: () => this.isLeader,
        ...(this.deps.tracer ? { tracer: this.deps.tracer } : {}),
        onChange: (view) => this.emit(view),
        onAppended: (id, decisions, ms, input) => {
          // The primary moved: whether the old one was down says nothing about the new one.
          if (decisions.some((d) => d.type === 'FailoverCompleted')) this.observations.resetPrimary(id);
          this.deps.metrics?.onAppended(id, decisions, ms);
          this.plans.onWorkloadStep(id, input, decisions);
          notifyDecisions(this.notifier, id, decisions, input.at);
        },
      },
      clock,
    );
    // Plan runs resume before agent messages flow again (their workload steps check the streams first).
    await this.plans.activate();
    // A short ack wait: what a crashed leader had pulled but not acknowledged reaches its successor soon.
    this.messages = await bus.consume(this.subjects.streams.agents, 'coordinator', { ackWaitMs: 10_000, maxMessages: 512 });
    this.consuming = true;
    void consumeAgentMessages(this.messages, { canAct: () => this.isLeader, handle: (subject, data) => this.ingest.onAgentMessage(subject, data), logger, clock }).catch((e: unknown) =>
      logger.error({ err: e }, 'agent message consumption ended with an error'),
    );
    // Sites already lost when we took over: make sure their primaries' workloads act.
    for (const site of this.sites.views()) {
      if (site.status === 'lost') this.onSiteTransition({ siteId: site.siteId, from: 'up', to: 'lost', at: this.now(), evidence: [`site ${site.siteId} was lost when coordinator ${this.id} took over`], ...(site.leaseExpiresAt !== undefined ? { leaseExpiredAt: site.leaseExpiresAt } : {}) }, true);
    }
    logger.info({ coordinatorId: this.id, leaderEpoch: state.leaderEpoch, workloads: this.workloads.size }, 'acting as leader');
  }

  /** Stops acting: no consumption, no timers, no appends. */
  private async deactivate(state: LeadershipState): Promise<void> {
    if (!this.consuming && this.workloads.size === 0) return;
    // Said as it is: a coordinator that lost its own lease (the elector logged why) is not told another leads.
    const why = this.stopping ? 'stopping: leadership released' : state.holder !== undefined && state.holder !== this.id ? 'standing by: another coordinator leads' : 'standing by: this coordinator lost its leadership lease';
    this.deps.logger[this.stopping ? 'info' : 'warn']({ coordinatorId: this.id, holder: state.holder, leaderEpoch: state.leaderEpoch }, why);
    this.consuming = false;
    await this.messages?.close();
    this.plans.deactivate();
    this.workloads.stopAll();
  }

  async stop(): Promise<void> {
    this.ready = false;
    this.stopping = true;
    if (this.tick !== undefined) this.deps.clock.clearInterval(this.tick);
    this.unsubscribeHeartbeats?.();
    if (this.consuming) await this.messages?.close();
    this.consuming = false;
    await this.workloads.idle();
    this.plans.deactivate();
    this.workloads.stopKeeping();
    await this.notifier.flush();
    if (this.started) await this.elector.stop();
    await this.activation;
  }

  onChange(listener: (view: WorkloadView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(view: WorkloadView): void {
    for (const l of this.listeners) l(view);
  }

  workloadViews(): WorkloadView[] {
    return this.workloads.views();
  }

  workloadView(id: string): WorkloadView | undefined {
    return this.workloads.view(id);
  }

  siteViews(): SiteView[] {
    return this.sites.views();
  }

  hasWorkload(id: string): boolean {
    return this.workloads.has(id);
  }

  /** Feeds one input to a workload's loop (also used by the API for operator commands). */
  submit(workloadId: string, input: WorkloadInput, origin: Origin): Promise<StepOutcome | undefined> {
    return this.workloads.submit(workloadId, input, origin);
  }

  /**
   * An operator's command (failover, switchover, approve, pause, …) for one workload. Resolves
   * once it is recorded; `accepted` is false when the statechart rejected it in the current
   * state (the reason names the state). Throws for an unknown workload or when not the leader.
   */
  async operatorCommand(args: {
    workloadId: string;
    command: OperatorCommandName;
    actor: Actor;
    requestId: string;
    targetSite?: string;
    reason?: string;
    correlationId?: string;
  }): Promise<{ accepted: boolean; reason?: string; state: string; outcome: StepOutcome }> {
    const input: WorkloadInput = {
      type: 'OPERATOR_COMMAND',
      at: this.now(),
      command: args.command,
      actor: args.actor,
      requestId: args.requestId,
      ...(args.targetSite !== undefined ? { targetSite: args.targetSite } : {}),
      ...(args.reason !== undefined ? { reason: args.reason } : {}),
    };
    const outcome = await this.submit(args.workloadId, input, { actor: args.actor, correlationId: args.correlationId ?? args.requestId });
    if (!outcome) throw new Error(`workload ${args.workloadId} is stopping`);
    const rejected = outcome.decisions.find((d) => d.type === 'OperatorCommandRejected');
    return rejected && rejected.type === 'OperatorCommandRejected'
      ? { accepted: false, reason: rejected.reason, state: outcome.stateBefore, outcome }
      : { accepted: true, state: outcome.stateAfter, outcome };
  }

  /** Resolves when every workload has processed what was submitted so far. */
  async settled(): Promise<void> {
    await this.workloads.idle();
  }

  private evaluateSites(): void {
    for (const t of this.sites.evaluate(this.now())) this.onSiteTransition(t);
  }

  private onSiteTransition(t: SiteTransition, takeover = false): void {
    const { logger } = this.deps;
    if (!takeover) logger.info({ siteId: t.siteId, from: t.from, to: t.to, evidence: t.evidence, leader: this.isLeader }, 'site status changed');
    if (!this.isLeader) return; // a standby only keeps its view warm
    if (!siteTransitionMatters(t)) return;
    if (t.to === 'lost') void this.plans.onSiteLost(t.siteId, t.leaseExpiredAt);
    const origin: Origin = { actor: { kind: 'coordinator', id: this.id } };
    for (const runner of this.workloads.all()) {
      // One still rehydrating (taking the lead) is skipped: the end of the activation applies
      // every site lost by then to all workloads.
      if (!runner.rehydrated) continue;
      const view = runner.view;
      const found = siteTransitionInputs(t, view, takeover);
      if (!found) continue;
      const inputs: WorkloadInput[] = [found.site];
      if (found.primaryFailed) {
        this.observations.markPrimaryDown(view.workloadId); // back within the debounce: PRIMARY_RECOVERED
        for (const x of this.observations.freshReplicaInputs(view.workloadId, t.siteId, t.at, view)) inputs.push(x.input);
        inputs.push(found.primaryFailed);
      }
      for (const input of inputs) {
        this.submit(view.workloadId, input, origin).catch((e: unknown) => logger.error({ err: e, workloadId: view.workloadId }, 'site transition input failed'));
      }
    }
  }
}
