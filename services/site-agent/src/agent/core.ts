import {
  HeartbeatSchema,
  createSubjects,
  type AgentIncarnation,
  type CommandResult,
  type Heartbeat,
  type Observation,
  type Subjects,
  type WorkloadRole,
} from '@drc/contracts';
import { context, decodeJson, encodeJson, trace, type BusConsumption, type Clock, type Logger, type Random, type TimerHandle } from '@drc/runtime';
import { SpanKind, type Tracer } from '@opentelemetry/api';
import type { ProbeResult, WorkloadDriver } from '../drivers/driver';
import { CommandExecutor } from './commands';
import { mustSelfFence, peersReachable, renewalTimeoutMs } from './lease';
import type { AgentBus, AgentJournal, AgentWatchdog, WitnessProbe } from './ports';
import { withTimeout } from './timeout';
import { activeTraceHeaders } from './trace-headers';

export interface AgentWorkload {
  workloadId: string;
  driver: WorkloadDriver;
}

/**
 * What the agent core is given: its identity and timings, and every port it reaches the world
 * through. It calls no OS clock, timer, randomness, file or NATS API itself, so the simulator runs
 * it on simulated time and network (issue 18); the production shell is `../shell/site-agent.ts`.
 */
export interface AgentCoreOptions {
  siteId: string;
  agentId: string;
  prefix: string;
  workloads: AgentWorkload[];
  /** Other sites of the estate (for witness reports and the self-fencing majority). */
  peerSites: string[];
  heartbeatMs: number;
  leaseTtlMs: number;
  logger: Logger;
  clock: Clock;
  random: Random;
  bus: AgentBus;
  /** Durable memory of epochs and command results (survives restarts). */
  journal: AgentJournal;
  /** Where to record the newest heartbeat time heard from each other site (drivers read it). */
  peerSentAt?: Map<string, number>;
  /** OpenTelemetry tracer: spans for observations and command execution (the global one, a no-op unless registered, when absent). */
  tracer?: Tracer;
  /** Direct agent-to-agent probes (not through NATS): peers heard this way count as reachable. */
  witness?: WitnessProbe;
  /** A driver health probe slower than this counts as failed (default: the heartbeat interval, at least 200 ms). */
  probeTimeoutMs?: number;
  /** This run of the agent (default: a fresh random id, started now). Never persisted: a new process is a new incarnation. */
  incarnation?: AgentIncarnation;
  /**
   * The agent's watchdog, told of every heartbeat round: the lease deadline it renewed and the
   * roles last observed. It fences this site's primaries if the agent dies and no agent renews
   * the lease in time.
   */
  watchdog?: AgentWatchdog;
}

/**
 * The site agent core: heartbeats and lease renewal, observations, and command execution,
 * over ports only (AgentCoreOptions).
 *
 * Safety: a command whose epoch is older than the newest seen for its workload is refused
 * (fencing token); a repeated command id is answered with the first result, never run twice;
 * a command past its deadline is refused. When the agent's lease lapses unrenewed and it
 * cannot hear a majority of the other sites, it fences every primary it holds (it may be the
 * cut-off side of a partition, and a replica elsewhere is about to be promoted).
 */
export class AgentCore {
  readonly subjects: Subjects;
  /**
   * This run of the agent, in every message it sends. Its seq starts over with each run, so
   * the coordinator orders messages per incarnation: a restart is not taken for a replay.
   */
  readonly incarnation: AgentIncarnation;
  private readonly now: () => number;
  private readonly byWorkload: Map<string, WorkloadDriver>;
  private readonly peerHeard = new Map<string, number>();
  /** `sentAt` of the newest heartbeat heard from each other site (shared with the drivers). */
  readonly peerSentAt: Map<string, number>;
  private readonly clock: Clock;
  private readonly bus: AgentBus;
  private seq = 0;
  private hbTimer?: TimerHandle;
  private unsubscribeHeartbeats?: () => void;
  private messages?: BusConsumption;
  private lastRenewedAt: number;
  /** The role of each workload's copy at the last observation (for the watchdog). */
  private readonly lastRoles: Record<string, WorkloadRole> = {};
  private selfFenced = false;
  private readonly commands: CommandExecutor;
  private beating = false;
  private stopped = false;

  constructor(private readonly opts: AgentCoreOptions) {
    this.subjects = createSubjects(opts.prefix);
    this.clock = opts.clock;
    this.bus = opts.bus;
    this.now = () => opts.clock.now();
    this.byWorkload = new Map(opts.workloads.map((w) => [w.workloadId, w.driver]));
    this.peerSentAt = opts.peerSentAt ?? new Map();
    // A new run counts its lease from its start (see the known gap in core.unit.test.ts: a run
    // restarted inside its predecessor's lease while cut off keeps its primary up to a lease too long).
    this.lastRenewedAt = this.now();
    this.incarnation = opts.incarnation ?? { id: opts.random.uuid(), startedAt: this.now() };
    this.commands = new CommandExecutor({
      siteId: opts.siteId, subjects: this.subjects, incarnation: this.incarnation, clock: opts.clock, bus: opts.bus, journal: opts.journal, logger: opts.logger, tracer: this.tracer, drivers: this.byWorkload,
      onPrimaryAgain: () => void (this.selfFenced = false),
      isStopped: () => this.stopped,
    });
  }

  get leaseRenewedAt(): number {
    return this.lastRenewedAt;
  }
  get hasSelfFenced(): boolean {
    return this.selfFenced;
  }
  driver(workloadId: string): WorkloadDriver | undefined {
    return this.byWorkload.get(workloadId);
  }

  /** Starts hearing peers and commands, then beats every heartbeat interval. The streams must exist (the shell makes sure). */
  async start(): Promise<void> {
    this.unsubscribeHeartbeats = this.bus.subscribe(this.subjects.allHeartbeats(), (_subject, data) => {
      try {
        const hb = HeartbeatSchema.parse(decodeJson(data));
        if (hb.siteId !== this.opts.siteId) {
          this.peerHeard.set(hb.siteId, this.now());
          if (hb.sentAt > (this.peerSentAt.get(hb.siteId) ?? 0)) this.peerSentAt.set(hb.siteId, hb.sentAt);
        }
      } catch {
        /* not ours to judge: the coordinator dead-letters bad heartbeats */
      }
    });
    this.messages = await this.bus.consume(this.subjects.streams.commands, `agent_${this.opts.siteId}`, {
      filterSubjects: [this.subjects.commands(this.opts.siteId)],
      deliver: 'new',
      ackWaitMs: 60_000,
      maxMessages: 64,
    });
    const messages = this.messages;
    void (async () => {
      for await (const m of messages) this.commands.enqueue(m);
    })();
    await this.opts.witness?.start();
    await this.opts.witness?.probeAll((site) => this.peerHeard.set(site, this.now()));
    await this.beat();
    this.hbTimer = this.clock.setInterval(() => void this.beat(), this.opts.heartbeatMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.hbTimer !== undefined) this.clock.clearInterval(this.hbTimer);
    this.unsubscribeHeartbeats?.();
    await this.messages?.close();
    await this.opts.witness?.stop();
  }

  /** Parses, checks and executes one command inside a span; always answers (except to garbage). */
  onCommand(data: Uint8Array): Promise<CommandResult | undefined> {
    return this.commands.onCommand(data);
  }

  /** One heartbeat round: renew the lease, report, and fence ourselves if cut off. */
  private async beat(): Promise<void> {
    if (this.stopped || this.beating) return;
    this.beating = true;
    try {
      await this.beatOnce();
    } finally {
      this.beating = false;
    }
  }

  private async beatOnce(): Promise<void> {
    // Alive, before anything that may be slow (the NATS flush, probes): the watchdog tells a live
    // agent on a slow NATS from a hung one by the rounds it starts.
    this.opts.watchdog?.beat({ roles: this.lastRoles });
    // Direct probes run beside the beat, never in its way: a black-holed link must not delay
    // lease renewal. Their answers count from the next beat on.
    void this.opts.witness?.probeAll((site) => this.peerHeard.set(site, this.now()));
    const now = this.now();
    const peers = peersReachable(this.opts.peerSites, this.peerHeard, now, this.opts.leaseTtlMs);
    const hb: Heartbeat = { kind: 'heartbeat', v: 1, siteId: this.opts.siteId, agentId: this.opts.agentId, incarnation: this.incarnation, seq: ++this.seq, sentAt: now, leaseTtlMs: this.opts.leaseTtlMs, peers };
    // The lease is renewed only when the server confirms it has the heartbeat. The flush is
    // bounded: while NATS is unreachable it would wait for a reconnection, and the lease check
    // below must run on every beat (a cut-off agent has to notice and fence itself).
    const renewed = await withTimeout(
      this.clock,
      (async () => {
        this.bus.publishVolatile(this.subjects.heartbeat(this.opts.siteId), encodeJson(hb));
        await this.bus.flush();
        return true;
      })(),
      renewalTimeoutMs(this.opts.heartbeatMs, this.opts.leaseTtlMs),
    ).catch(() => false);
    // The coordinator's lease runs from when it got this heartbeat: `now` (before sending) + TTL
    // is not later than that, so the watchdog's deadline comes first.
    if (renewed) {
      this.opts.watchdog?.beat({ leaseDeadline: now + this.opts.leaseTtlMs, roles: this.lastRoles });
      this.lastRenewedAt = this.now();
      if (this.selfFenced) this.opts.logger.info('lease renewed again after self-fencing; waiting for the coordinator');
      void this.commands.resendUnsent();
    }
    await this.checkLease(peers);
    if (renewed) await withTimeout(this.clock, this.observe(), this.probeTimeoutMs + this.opts.heartbeatMs).catch((e: unknown) => this.opts.logger.warn({ err: e }, 'observation not published'));
  }

  private async checkLease(peers: Record<string, boolean>): Promise<void> {
    const now = this.now();
    const { fence, reachablePeers: reachable } = mustSelfFence({ now, lastRenewedAt: this.lastRenewedAt, leaseTtlMs: this.opts.leaseTtlMs, alreadySelfFenced: this.selfFenced, peers, peerSiteCount: this.opts.peerSites.length });
    if (!fence) return;
    this.selfFenced = true;
    for (const [workloadId, driver] of this.byWorkload) {
      const p = await driver.probe();
      if (p.role !== 'primary') continue;
      this.opts.logger.warn({ workloadId, leaseAgeMs: now - this.lastRenewedAt, reachablePeers: reachable }, 'lease lapsed and no majority reachable: fencing our primary');
      await driver
        .execute('fence', { reason: 'self-fence: lease lapsed' }, { commandId: `self-fence:${workloadId}:${now}`, epoch: this.commands.epochOf(workloadId) ?? 0, deadline: now + 30_000, signal: new AbortController().signal })
        .catch((e: unknown) => this.opts.logger.error({ err: e, workloadId }, 'self-fence failed'));
    }
  }

  private async observe(): Promise<void> {
    const workloads = await Promise.all(
      [...this.byWorkload].map(async ([workloadId, driver]) => {
        // A health check that hangs (a half-dead server that accepts but never answers) is a
        // failed health check, reported now, not an observation that never comes.
        const p: ProbeResult = await withTimeout(this.clock, driver.probe(), this.probeTimeoutMs).catch(() => ({ role: 'unknown' as const, healthy: false, detail: `health probe timed out after ${this.probeTimeoutMs} ms` }));
        const epoch = this.commands.epochOf(workloadId);
        if (p.role !== 'unknown') this.lastRoles[workloadId] = p.role; // a timed-out probe says nothing new
        return { workloadId, role: p.role, healthy: p.healthy, ...(p.detail ? { detail: p.detail } : {}), ...(p.replication ? { replication: p.replication } : {}), ...(epoch !== undefined ? { epoch } : {}) };
      }),
    );
    const obs: Observation = { kind: 'observation', v: 1, siteId: this.opts.siteId, agentId: this.opts.agentId, incarnation: this.incarnation, seq: this.seq, observedAt: this.now(), workloads };
    // Each observation starts a trace: the decisions it causes at the coordinator join it.
    const span = this.tracer.startSpan('observe', { kind: SpanKind.PRODUCER, attributes: { 'drc.site.id': this.opts.siteId, 'drc.workloads': workloads.length } });
    try {
      await context.with(trace.setSpan(context.active(), span), () =>
        this.bus.publish(this.subjects.observation(this.opts.siteId), encodeJson(obs), { headers: activeTraceHeaders() }),
      );
    } finally {
      span.end();
    }
  }

  /** How long one driver health probe may take before it counts as failed. */
  private get probeTimeoutMs(): number {
    return this.opts.probeTimeoutMs ?? Math.max(200, this.opts.heartbeatMs);
  }

  private get tracer(): Tracer {
    return this.opts.tracer ?? trace.getTracer('drc-site-agent');
  }
}
