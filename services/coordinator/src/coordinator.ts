import { randomUUID } from 'node:crypto';
import {
  createSubjects,
  effectivePolicy,
  type Actor,
  type CommandResult,
  type Decision,
  type DrcConfig,
  type OperatorCommandName,
  type FieldIssue,
  type Observation,
  type SiteView,
  type Subjects,
  type WorkloadInput,
  type WorkloadView,
} from '@drc/contracts';
import type { EventStore } from '@drc/event-store';
import {
  durableConsumer,
  encodeJson,
  ensureStreams,
  jetStreamOf,
  type ConsumerMessages,
  type JetStreamClient,
  type Logger,
  type NatsConnection,
  type NatsSubscription,
  runWithMessageContext,
  pullOptions,
} from '@drc/runtime';
import type { Tracer } from '@opentelemetry/api';
import { ObservationTracker, SiteTracker, type SiteTransition } from './detection/index';
import { createCommandDispatcher } from './dispatch/index';
import { AgentSequencer, checkCommandResult, deadLetterFor, outOfOrderReason, validateAgentMessage } from './ingest/index';
import { WorkloadRunner, type Origin, type StepOutcome, type Writer } from './loop/index';
import { createMetrics, type Metrics } from './metrics/index';
import { UnknownWorkloadError } from './errors';
import { LeaderElector, type LeadershipState } from './leadership/index';
import { Notifier, PlanManager } from './plans/index';

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

export interface CoordinatorStats {
  deadLetters: number;
  inputs: number;
  staleDropped: number;
}

/** Pure. Whether the workload has a copy at the site. */
function hostsCopyAt(view: WorkloadView, siteId: string): boolean {
  for (const r of view.replicas) if (r.siteId === siteId) return true;
  return false;
}

/** Agent messages whose inputs may be waiting for their appends at once. */
const INGEST_IN_FLIGHT = 64;

/** Counting semaphore: at most `n` async calls at once. */
function createGate(n: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/**
 * The coordinator runtime: ingests agent messages from NATS, detects failures, runs one
 * WorkloadRunner (decide → append → dispatch) per protected workload, and exposes views.
 */
export class Coordinator {
  readonly id: string;
  readonly subjects: Subjects;
  readonly stats: CoordinatorStats = { deadLetters: 0, inputs: 0, staleDropped: 0 };
  private readonly runners = new Map<string, WorkloadRunner>();
  private readonly sites: SiteTracker;
  private readonly observations: ObservationTracker;
  private readonly now: () => number;
  private readonly writer: Writer;
  /** Heartbeats and observations, each ordered per agent incarnation (a restarted agent's seq starts over). */
  private readonly heartbeatOrder: AgentSequencer;
  private readonly observationOrder: AgentSequencer;
  private js!: JetStreamClient;
  private hbSub?: NatsSubscription;
  private messages?: ConsumerMessages;
  private tick?: NodeJS.Timeout;
  private listeners = new Set<(view: WorkloadView) => void>();
  private readonly startedAt: number;
  private ready = false;
  private stopping = false;
  readonly metrics: Metrics;
  private elector?: LeaderElector;
  private activation: Promise<void> = Promise.resolve();
  private consuming = false;
  readonly notifier: Notifier;
  readonly plans: PlanManager;

  constructor(private readonly opts: CoordinatorOptions) {
    this.id = opts.coordinatorId ?? `coordinator-${randomUUID().slice(0, 8)}`;
    this.now = opts.now ?? Date.now;
    this.subjects = createSubjects(opts.config.nats.prefix);
    this.startedAt = this.now();
    this.writer = { coordinatorId: this.id, leaderEpoch: 0 };
    // An agent whose host clock stepped back is heard again by its live heartbeats once its
    // previous run has been silent for a lease; its observations follow the run its heartbeats established.
    this.heartbeatOrder = new AgentSequencer({ supersedeSilentAfterMs: opts.config.coordinator.siteLeaseTtlMs });
    this.observationOrder = new AgentSequencer();
    this.sites = new SiteTracker({
      sites: opts.config.sites,
      defaultLeaseTtlMs: opts.config.coordinator.siteLeaseTtlMs,
      graceUntil: this.startedAt + opts.config.coordinator.startupGraceMs,
      blackoutGraceMs: opts.config.coordinator.startupGraceMs,
    });
    this.observations = new ObservationTracker({ refreshMs: opts.replicaRefreshMs ?? opts.config.coordinator.replicaRefreshMs });
    this.metrics = createMetrics(() => this, this.now);
    this.notifier = new Notifier(opts.config.notifications, opts.logger, this.id);
    this.plans = new PlanManager({
      config: opts.config,
      store: opts.store,
      writer: this.writer,
      logger: opts.logger,
      now: this.now,
      notifier: this.notifier,
      host: {
        operatorCommand: (a) => this.operatorCommand(a),
        workloadView: (id) => this.workloadView(id),
        canAct: () => this.isLeader,
      },
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
    const { store, nc, logger } = this.opts;
    await store.init();
    await ensureStreams(nc, this.subjects, { replicas: this.opts.config.nats.replicas });
    this.js = jetStreamOf(nc);
    this.hbSub = nc.subscribe(this.subjects.allHeartbeats(), {
      callback: (err, msg) => {
        if (err) return;
        runWithMessageContext(msg.headers, () => this.onHeartbeat(msg.subject, msg.data));
      },
    });
    this.tick = setInterval(() => this.evaluateSites(), this.opts.tickMs ?? 200);
    this.elector = new LeaderElector({
      nc,
      bucket: `${this.subjects.streams.agents.replace(/_AGENTS$/, '')}_LEADER`,
      candidateId: this.id,
      ttlMs: this.opts.leaderTtlMs ?? this.opts.config.coordinator.leaderTtlMs,
      replicas: this.opts.config.nats.replicas,
      logger,
      now: this.now,
    });
    this.elector.onChange((state) => {
      this.activation = this.activation.then(() => (state.leader ? this.activateUntilDone(state) : this.deactivate(state))).catch((e: unknown) => {
        logger.error({ err: e }, 'leadership change failed');
      });
    });
    await this.elector.start();
    await this.activation;
    this.ready = true;
    logger.info({ coordinatorId: this.id, role: this.isLeader ? 'leader' : 'standby', leaderEpoch: this.writer.leaderEpoch }, 'coordinator started');
  }

  get isLeader(): boolean {
    return this.elector?.isLeader() ?? false;
  }

  get leadership(): LeadershipState {
    return this.elector?.current ?? { leader: false, leaderEpoch: 0 };
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
        this.opts.logger.warn({ err: e, attempt, retryInMs, leaderEpoch: state.leaderEpoch }, 'could not take up the lead; trying again');
        await new Promise((r) => setTimeout(r, retryInMs));
      }
    }
  }

  /** Becomes the acting coordinator: rehydrate every workload from the store, re-arm, consume. */
  private async activate(state: LeadershipState): Promise<void> {
    const { config, store, logger } = this.opts;
    this.writer.leaderEpoch = state.leaderEpoch;
    const dispatch = createCommandDispatcher(this.js, this.subjects);
    const gate = createGate(config.coordinator.siteLossConcurrency);
    const priorities = new Map(config.sites.map((s) => [s.id, s]));
    for (const r of this.runners.values()) r.stop();
    this.runners.clear();
    // As many at a time as the gate lets through, and each turn lets the event loop go when its
    // workload is done: started all at once, 10,000 workloads finish in bursts that hold the loop,
    // lease renewal included (the only coordinator of the scale benchmark lost its lease during
    // its startup, issue 17 item 7).
    const rehydrate = async (w: DrcConfig['workloads'][number]): Promise<void> => {
      const runner = new WorkloadRunner(w.id, {
        store,
        writer: this.writer,
        logger,
        now: this.now,
        dispatch,
        gate,
        canAct: () => this.isLeader,
        ...(this.opts.tracer ? { tracer: this.opts.tracer } : {}),
        onChange: (view) => this.emit(view),
        onAppended: (id, decisions, ms, input) => {
          // The primary moved: whether the old one was down says nothing about the new one.
          if (decisions.some((d) => d.type === 'FailoverCompleted')) this.observations.resetPrimary(id);
          this.metrics.onAppended(id, decisions, ms);
          this.plans.onWorkloadStep(id, input, decisions);
          this.notifyDecisions(id, decisions, input.at);
        },
      });
      this.runners.set(w.id, runner);
      const siteIds = [w.primarySite, ...w.replicaSites];
      await gate(() =>
        runner.start({
          workloadId: w.id,
          primarySite: w.primarySite,
          sites: siteIds.map((id) => {
            const s = priorities.get(id);
            return { siteId: id, priority: s?.priority ?? 100, ...(s?.capacity !== undefined ? { capacity: s.capacity } : {}) };
          }),
          policy: effectivePolicy(config, w),
          epoch: 0,
        }),
      );
    };
    let next = 0;
    const rehydrateInTurn = async (): Promise<void> => {
      while (next < config.workloads.length) {
        await rehydrate(config.workloads[next++]!);
        await new Promise<void>((r) => setImmediate(r));
      }
    };
    await Promise.all(Array.from({ length: Math.min(config.coordinator.siteLossConcurrency, config.workloads.length) }, rehydrateInTurn));
    // Plan runs resume before agent messages flow again (their workload steps check the streams first).
    await this.plans.activate();
    // A short ack wait: what a crashed leader had pulled but not acknowledged reaches its successor soon.
    const consumer = await durableConsumer(this.opts.nc, this.subjects.streams.agents, 'coordinator', { ackWaitMs: 10_000 });
    this.messages = await consumer.consume(pullOptions(512));
    this.consuming = true;
    const messages = this.messages;
    void (async () => {
      // Messages are taken in order and each one's inputs are queued on their workloads' runners
      // at once (per-workload order is kept by the runners); up to INGEST_IN_FLIGHT messages
      // then wait for their appends concurrently, so one large observation does not hold up the
      // failure report behind it. A message is acknowledged once its inputs are recorded.
      const inFlight = new Set<Promise<void>>();
      for await (const m of messages) {
        if (!this.isLeader) {
          m.nak(); // leave it for the leader
          continue;
        }
        const p: Promise<void> = runWithMessageContext(m.headers, () => this.onAgentMessage(m.subject, m.data))
          .catch((e: unknown) => logger.error({ err: e, subject: m.subject }, 'agent message handling failed'))
          .then(() => {
            m.ack();
            inFlight.delete(p);
          });
        inFlight.add(p);
        if (inFlight.size >= INGEST_IN_FLIGHT) await Promise.race(inFlight);
        // Let I/O run between messages. While the client holds a backlog, the iterator hands out
        // the next message at once (a microtask), so without this a burst of large observations is
        // handled back to back and the append and command of the failure report found in the first
        // one wait behind all the others (the event-store driver writes its queries from setImmediate).
        else await new Promise<void>((r) => setImmediate(r));
      }
    })();
    // Sites already lost when we took over: make sure their primaries' workloads act.
    for (const site of this.sites.views()) {
      if (site.status === 'lost') this.onSiteTransition({ siteId: site.siteId, from: 'up', to: 'lost', at: this.now(), evidence: [`site ${site.siteId} was lost when coordinator ${this.id} took over`], ...(site.leaseExpiresAt !== undefined ? { leaseExpiredAt: site.leaseExpiresAt } : {}) }, true);
    }
    logger.info({ coordinatorId: this.id, leaderEpoch: state.leaderEpoch, workloads: this.runners.size }, 'acting as leader');
  }

  /** Stops acting: no consumption, no timers, no appends. */
  private async deactivate(state: LeadershipState): Promise<void> {
    if (!this.consuming && this.runners.size === 0) return;
    // Said as it is: a coordinator that lost its own lease (the elector logged why) is not told another leads.
    const why = this.stopping ? 'stopping: leadership released' : state.holder !== undefined && state.holder !== this.id ? 'standing by: another coordinator leads' : 'standing by: this coordinator lost its leadership lease';
    this.opts.logger[this.stopping ? 'info' : 'warn']({ coordinatorId: this.id, holder: state.holder, leaderEpoch: state.leaderEpoch }, why);
    this.consuming = false;
    await this.messages?.close();
    this.plans.deactivate();
    for (const r of this.runners.values()) r.stop();
    this.runners.clear();
  }

  async stop(): Promise<void> {
    this.ready = false;
    this.stopping = true;
    if (this.tick) clearInterval(this.tick);
    this.hbSub?.unsubscribe();
    if (this.consuming) await this.messages?.close();
    this.consuming = false;
    await Promise.all([...this.runners.values()].map((r) => r.idle()));
    this.plans.deactivate();
    for (const r of this.runners.values()) r.stop();
    await this.notifier.flush();
    await this.elector?.stop();
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
    return [...this.runners.values()].map((r) => r.view);
  }

  workloadView(id: string): WorkloadView | undefined {
    return this.runners.get(id)?.view;
  }

  siteViews(): SiteView[] {
    return this.sites.views();
  }

  hasWorkload(id: string): boolean {
    return this.runners.has(id);
  }

  /** Feeds one input to a workload's loop (also used by the API for operator commands). */
  submit(workloadId: string, input: WorkloadInput, origin: Origin): Promise<StepOutcome | undefined> {
    const runner = this.runners.get(workloadId);
    if (!runner) return Promise.reject(new UnknownWorkloadError(workloadId));
    this.stats.inputs++;
    return runner.submit(input, origin);
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

  /** Tells operators' systems about failovers and approvals (after they are recorded). */
  private notifyDecisions(workloadId: string, decisions: ReadonlyArray<Decision>, at: number): void {
    for (const d of decisions) {
      if (d.type === 'FailoverStarted') this.notifier.notify('failover.started', { workloadId, mode: d.mode, fromSite: d.fromSite, reason: d.reason, actor: d.actor ?? null }, at);
      else if (d.type === 'FailoverCompleted') this.notifier.notify('failover.completed', { workloadId, fromSite: d.fromSite, toSite: d.toSite, epoch: d.epoch, rtoMs: d.rtoMs, dataLossSeconds: d.dataLossSeconds ?? null }, at);
      else if (d.type === 'ApprovalRequired') this.notifier.notify('approval.required', { workloadId, reason: d.reason, candidate: d.candidate ?? null }, at);
      else if (d.type === 'RoguePrimaryDetected') this.notifier.notify('primary.rogue', { workloadId, siteId: d.siteId, epoch: d.epoch, evidence: d.evidence }, at);
    }
  }

  /** Resolves when every workload has processed what was submitted so far. */
  async settled(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.idle()));
  }

  private deadLetter(subject: string, data: Uint8Array, reason: string, issues: FieldIssue[]): void {
    this.stats.deadLetters++;
    this.metrics.onDeadLetter();
    this.opts.logger.warn({ subject, reason }, 'agent message rejected (dead-lettered)');
    const dl = deadLetterFor(subject, data, reason, issues, this.now());
    this.js.publish(this.subjects.deadLetter(), encodeJson(dl)).catch((e: unknown) => {
      this.opts.logger.error({ err: e }, 'dead-letter publish failed');
    });
  }

  private onHeartbeat(subject: string, data: Uint8Array): void {
    const v = validateAgentMessage(this.subjects, subject, data, (s) => this.sites.has(s));
    if (!v.ok) return this.deadLetter(subject, data, v.reason, v.issues);
    if (v.message.kind !== 'heartbeat') return this.deadLetter(subject, data, `expected a heartbeat, got ${v.message.kind}`, []);
    this.metrics.onAgentMessage('heartbeat');
    const hb = v.message;
    const order = this.heartbeatOrder.admit(hb, { now: this.now(), live: true });
    if (!order.ok) {
      this.stats.staleDropped++;
      const { reason, issues } = outOfOrderReason('heartbeat', hb, order);
      return this.deadLetter(subject, data, reason, issues);
    }
    if (order.restarted) this.opts.logger.info({ siteId: hb.siteId, agentId: hb.agentId, incarnation: hb.incarnation, previous: order.previous }, 'agent restarted: a new incarnation is heard');
    this.sites.heartbeat(hb, this.now());
  }

  private async onAgentMessage(subject: string, data: Uint8Array): Promise<void> {
    const v = validateAgentMessage(this.subjects, subject, data, (s) => this.sites.has(s));
    if (!v.ok) return this.deadLetter(subject, data, v.reason, v.issues);
    const msg = v.message;
    this.metrics.onAgentMessage(msg.kind);
    if (msg.kind === 'observation') return this.onObservation(subject, data, msg);
    if (msg.kind === 'commandResult') return this.onCommandResult(subject, data, msg, v.siteId);
    return this.deadLetter(subject, data, `heartbeats belong on ${this.subjects.heartbeat(msg.siteId)}`, []);
  }

  private async onObservation(subject: string, data: Uint8Array, msg: Observation): Promise<void> {
    const order = this.observationOrder.check(msg, { now: this.now(), established: this.heartbeatOrder.current(msg) });
    if (!order.ok) {
      const { reason, issues } = outOfOrderReason('observation', msg, order);
      return this.deadLetter(subject, data, reason, issues);
    }
    // Every copy is checked before anything is taken from the message; the views found are
    // handed to the tracker, so each copy costs one lookup here (1,000 copies a message, 20 a second).
    const copies = msg.workloads;
    const views: WorkloadView[] = new Array<WorkloadView>(copies.length);
    for (let i = 0; i < copies.length; i++) {
      const id = copies[i]!.workloadId;
      const view = this.runners.get(id)?.view;
      if (!view) return this.deadLetter(subject, data, `unknown workload "${id}"`, [{ path: `workloads[${i}].workloadId`, message: 'unknown workload' }]);
      if (!hostsCopyAt(view, msg.siteId)) {
        return this.deadLetter(subject, data, `workload "${id}" has no copy at site "${msg.siteId}"`, [{ path: `workloads[${i}].workloadId`, message: 'not hosted at this site' }]);
      }
      views[i] = view;
    }
    this.observationOrder.take(msg, this.now());
    const now = this.now();
    if (msg.observedAt < now - 4 * this.opts.config.coordinator.siteLeaseTtlMs) {
      this.stats.staleDropped++; // a backlog from before a restart: facts too old to act on
      return;
    }
    if (this.sites.status(msg.siteId) === 'lost') {
      // A lost site stays lost until its own heartbeat is heard (heartbeats are not stored, so
      // one proves the agent is alive now). Until then its observations are old news: a backlog
      // redelivered to a coordinator that just took the lead, say. Taken as facts, a healthy
      // report written before the site went dark would cancel its primary's failover (PRIMARY_
      // RECOVERED) and, with no later report to come, leave the workload on a lost site (chaos seed 1902).
      this.stats.staleDropped++;
      this.opts.logger.debug({ siteId: msg.siteId, seq: msg.seq }, 'observation from a lost site not taken');
      return;
    }
    const origin: Origin = { actor: { kind: 'agent', id: msg.agentId }, correlationId: `${msg.agentId}:${msg.incarnation.id}:${msg.seq}` };
    const inputs = this.observations.observe(msg, now, (_id, i) => views[i]);
    await Promise.all(inputs.map((x) => this.submit(x.workloadId, x.input, origin)));
  }

  /** `fromSite`: the site of the subject the result came on (validated), the only word on who sent it. */
  private async onCommandResult(subject: string, data: Uint8Array, msg: CommandResult, fromSite: string): Promise<void> {
    const runner = this.runners.get(msg.workloadId);
    if (!runner) {
      return this.deadLetter(subject, data, `unknown workload "${msg.workloadId}"`, [{ path: 'workloadId', message: 'unknown workload' }]);
    }
    // Only a result the workload is waiting for, from the site it was sent to, is an input;
    // anything else (unknown id, stale epoch, a second answer, another site) is dead-lettered.
    await runner.idle();
    const verdict = checkCommandResult(msg, fromSite, runner.pendingCommand(msg.commandId));
    if (!verdict.ok) return this.deadLetter(subject, data, verdict.reason, verdict.issues);
    const input: WorkloadInput = {
      type: 'COMMAND_RESULT',
      at: this.now(),
      commandId: msg.commandId,
      siteId: fromSite,
      action: msg.action,
      epoch: msg.epoch,
      status: msg.status,
      ...(msg.reason !== undefined ? { reason: msg.reason } : {}),
      detail: msg.detail,
    };
    await this.submit(msg.workloadId, input, { actor: { kind: 'agent', id: fromSite }, correlationId: msg.commandId });
  }

  private evaluateSites(): void {
    for (const t of this.sites.evaluate(this.now())) this.onSiteTransition(t);
  }

  private onSiteTransition(t: SiteTransition, takeover = false): void {
    const { logger } = this.opts;
    if (!takeover) logger.info({ siteId: t.siteId, from: t.from, to: t.to, evidence: t.evidence, leader: this.isLeader }, 'site status changed');
    if (!this.isLeader) return; // a standby only keeps its view warm
    const becameLost = t.to === 'lost';
    const recovered = t.from === 'lost' && t.to === 'up';
    if (!becameLost && !recovered) return;
    if (becameLost) void this.plans.onSiteLost(t.siteId, t.leaseExpiredAt);
    const origin: Origin = { actor: { kind: 'coordinator', id: this.id } };
    for (const runner of this.runners.values()) {
      const view = runner.view;
      if (!view.replicas.some((r) => r.siteId === t.siteId)) continue;
      if (takeover && (view.primarySite !== t.siteId || (view.state !== 'protected' && view.state !== 'degraded'))) continue;
      const inputs: WorkloadInput[] = [
        { type: 'SITE_STATUS', at: t.at, siteId: t.siteId, status: becameLost ? 'lost' : 'up', evidence: t.evidence, ...(t.leaseExpiredAt !== undefined ? { leaseExpiredAt: t.leaseExpiredAt } : {}) },
      ];
      if (becameLost && view.primarySite === t.siteId) {
        this.observations.markPrimaryDown(view.workloadId); // back within the debounce: PRIMARY_RECOVERED
        for (const x of this.observations.freshReplicaInputs(view.workloadId, t.siteId, t.at, view)) inputs.push(x.input);
        inputs.push({ type: 'PRIMARY_FAILED', at: t.at, siteId: t.siteId, reason: 'siteLost', evidence: t.evidence, ...(t.leaseExpiredAt !== undefined ? { leaseExpiredAt: t.leaseExpiredAt } : {}) });
      }
      for (const input of inputs) {
        this.submit(view.workloadId, input, origin).catch((e: unknown) => logger.error({ err: e, workloadId: view.workloadId }, 'site transition input failed'));
      }
    }
  }
}
