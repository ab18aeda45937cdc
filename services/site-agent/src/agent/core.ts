import {
  CommandSchema,
  HeartbeatSchema,
  createSubjects,
  type AgentIncarnation,
  type Command,
  type CommandResult,
  type Heartbeat,
  type Observation,
  type Subjects,
  type WorkloadRole,
} from '@drc/contracts';
import { context, decodeJson, encodeJson, runWithMessageContext, trace, traceHeaders, type BusConsumption, type Clock, type Logger, type Random, type TimerHandle } from '@drc/runtime';
import { SpanKind, type Tracer } from '@opentelemetry/api';
import { isDriverError, type ProbeResult, type WorkloadDriver } from '../drivers/driver';
import type { AgentBus, AgentJournal, AgentWatchdog, WitnessProbe } from './ports';

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

/** Resolves with `p`, or rejects after `ms` on `clock` (the work itself is not cancelled). */
function withTimeout<T>(clock: Clock, p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = clock.setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clock.clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clock.clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Pure. A trace-header carrier over a plain record (a BusMessage's headers, a publish's). */
function recordCarrier(record: Record<string, string>): { get(k: string): string; set(k: string, v: string): void; keys(): string[] } {
  return { get: (k) => record[k] ?? '', set: (k, v) => void (record[k] = v), keys: () => Object.keys(record) };
}

/** Not pure (reads the active trace context). Headers carrying the active span to the receiver. */
function activeTraceHeaders(): Record<string, string> {
  const record: Record<string, string> = {};
  traceHeaders(recordCarrier(record));
  return record;
}

/** Pure. The workload a command is for, read without validating it ('' when there is none: handleCommand judges it). */
function workloadKeyOf(data: Uint8Array): string {
  try {
    const v = decodeJson(data) as { workloadId?: unknown } | null;
    return typeof v?.workloadId === 'string' ? v.workloadId : '';
  } catch {
    return '';
  }
}

interface Remembered {
  result: CommandResult;
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
  private readonly newestEpoch = new Map<string, number>();
  private readonly done = new Map<string, Remembered>();
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
  /** Results NATS did not take (an outage), by command id: sent again after the next renewed lease. */
  private readonly unsent = new Map<string, CommandResult>();
  private resending = false;
  /** The last command queued for each workload (run or waiting): the next one runs after it. */
  private readonly commandQueues = new Map<string, Promise<void>>();
  private beating = false;
  private stopped = false;

  constructor(private readonly opts: AgentCoreOptions) {
    this.subjects = createSubjects(opts.prefix);
    this.clock = opts.clock;
    this.bus = opts.bus;
    this.now = () => opts.clock.now();
    this.byWorkload = new Map(opts.workloads.map((w) => [w.workloadId, w.driver]));
    this.peerSentAt = opts.peerSentAt ?? new Map();
    this.lastRenewedAt = this.now();
    this.incarnation = opts.incarnation ?? { id: opts.random.uuid(), startedAt: this.now() };
    for (const [w, e] of opts.journal.state.epochs) this.newestEpoch.set(w, e);
    // A result from an earlier run is sent again (to a repeated command) by this one.
    for (const [id, result] of opts.journal.state.results) this.done.set(id, { result: { ...result, incarnation: this.incarnation } });
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
      // Workloads side by side, each workload's commands one after the other in the order they
      // came: one at a time for the whole site let a 90 s exec fence of one workload hold another
      // workload's fence until 64 s past its deadline. (A redelivered command id queues behind
      // its first delivery on the same workload, so it is answered from memory, never run twice.)
      for await (const m of messages) {
        const key = workloadKeyOf(m.data);
        const before = this.commandQueues.get(key) ?? Promise.resolve();
        const queued: Promise<void> = before
          // The coordinator's decision span (NATS headers) is the parent of the execution span.
          .then(() => runWithMessageContext(m.headers ? recordCarrier({ ...m.headers }) : undefined, () => this.onCommand(m.data)))
          .catch((e: unknown) => this.opts.logger.error({ err: e, workloadId: key }, 'command handling failed'))
          .then(() => {
            m.ack();
            if (this.commandQueues.get(key) === queued) this.commandQueues.delete(key);
          });
        this.commandQueues.set(key, queued);
      }
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

  private peersReachable(now: number): Record<string, boolean> {
    const out: Record<string, boolean> = {};
    for (const p of this.opts.peerSites) out[p] = now - (this.peerHeard.get(p) ?? -Infinity) < this.opts.leaseTtlMs;
    return out;
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
    const peers = this.peersReachable(now);
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
      Math.max(50, Math.min(this.opts.heartbeatMs, this.opts.leaseTtlMs / 3)),
    ).catch(() => false);
    // The coordinator's lease runs from when it got this heartbeat: `now` (before sending) + TTL
    // is not later than that, so the watchdog's deadline comes first.
    if (renewed) {
      this.opts.watchdog?.beat({ leaseDeadline: now + this.opts.leaseTtlMs, roles: this.lastRoles });
      this.lastRenewedAt = this.now();
      if (this.selfFenced) this.opts.logger.info('lease renewed again after self-fencing; waiting for the coordinator');
      void this.resendUnsent();
    }
    await this.checkLease(peers);
    if (renewed) await withTimeout(this.clock, this.observe(), this.probeTimeoutMs + this.opts.heartbeatMs).catch((e: unknown) => this.opts.logger.warn({ err: e }, 'observation not published'));
  }

  private async checkLease(peers: Record<string, boolean>): Promise<void> {
    const now = this.now();
    if (now - this.lastRenewedAt < this.opts.leaseTtlMs || this.selfFenced) return;
    const reachable = Object.values(peers).filter(Boolean).length;
    const majority = Math.floor((this.opts.peerSites.length + 1) / 2) + 1; // of all sites, ourselves included
    if (reachable + 1 >= majority) return; // cut from NATS/coordinator only, peers still agree we are alive
    this.selfFenced = true;
    for (const [workloadId, driver] of this.byWorkload) {
      const p = await driver.probe();
      if (p.role !== 'primary') continue;
      this.opts.logger.warn({ workloadId, leaseAgeMs: now - this.lastRenewedAt, reachablePeers: reachable }, 'lease lapsed and no majority reachable: fencing our primary');
      await driver
        .execute('fence', { reason: 'self-fence: lease lapsed' }, { commandId: `self-fence:${workloadId}:${now}`, epoch: this.newestEpoch.get(workloadId) ?? 0, deadline: now + 30_000, signal: new AbortController().signal })
        .catch((e: unknown) => this.opts.logger.error({ err: e, workloadId }, 'self-fence failed'));
    }
  }

  private async observe(): Promise<void> {
    const workloads = await Promise.all(
      [...this.byWorkload].map(async ([workloadId, driver]) => {
        // A health check that hangs (a half-dead server that accepts but never answers) is a
        // failed health check, reported now, not an observation that never comes.
        const p: ProbeResult = await withTimeout(this.clock, driver.probe(), this.probeTimeoutMs).catch(() => ({ role: 'unknown' as const, healthy: false, detail: `health probe timed out after ${this.probeTimeoutMs} ms` }));
        const epoch = this.newestEpoch.get(workloadId);
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

  /** Parses, checks and executes one command inside a span; always answers (except to garbage). */
  async onCommand(data: Uint8Array): Promise<CommandResult | undefined> {
    const span = this.tracer.startSpan('execute command', { kind: SpanKind.CONSUMER, attributes: { 'drc.site.id': this.opts.siteId } });
    try {
      return await context.with(trace.setSpan(context.active(), span), () => this.handleCommand(data));
    } finally {
      span.end();
    }
  }

  private async handleCommand(data: Uint8Array): Promise<CommandResult | undefined> {
    let cmd: Command;
    try {
      cmd = CommandSchema.parse(decodeJson(data));
    } catch (e) {
      this.opts.logger.warn({ err: e }, 'malformed command ignored');
      return undefined;
    }
    const log = this.opts.logger.child({ workloadId: cmd.workloadId, commandId: cmd.commandId, action: cmd.action, epoch: cmd.epoch });
    log.debug({ queuedMs: this.now() - cmd.issuedAt }, 'command received');
    const seen = this.done.get(cmd.commandId);
    if (seen) {
      log.info('repeated command: answering with the first result');
      await this.publish(seen.result);
      return seen.result;
    }
    const startedAt = this.now();
    const answer = async (status: CommandResult['status'], reason?: string, detail: Record<string, unknown> = {}) => {
      const result: CommandResult = {
        kind: 'commandResult', v: 1, incarnation: this.incarnation, commandId: cmd.commandId, workloadId: cmd.workloadId, siteId: this.opts.siteId, action: cmd.action, epoch: cmd.epoch,
        status, ...(reason !== undefined ? { reason } : {}), startedAt, completedAt: this.now(), detail,
      };
      this.done.set(cmd.commandId, { result });
      if (this.done.size > 10_000) this.done.delete(this.done.keys().next().value!);
      const recorded = this.opts.journal.recordResult(result);
      if (recorded) await recorded; // a synchronous journal adds no turn of the event loop
      await this.publish(result);
      log.info({ status, reason, tookMs: this.now() - startedAt }, 'command answered');
      return result;
    };
    if (cmd.siteId !== this.opts.siteId) return answer('refused', `command for site ${cmd.siteId} reached site ${this.opts.siteId}`);
    const driver = this.byWorkload.get(cmd.workloadId);
    if (!driver) return answer('refused', `unknown workload ${cmd.workloadId} at site ${this.opts.siteId}`);
    const newest = this.newestEpoch.get(cmd.workloadId) ?? 0;
    if (cmd.epoch < newest) return answer('refused', `stale epoch ${cmd.epoch}: newest seen for ${cmd.workloadId} is ${newest}`);
    if (startedAt > cmd.deadline) return answer('refused', `deadline passed ${startedAt - cmd.deadline} ms ago`);
    // The fencing token is on disk before anything is done under it.
    // (A synchronous journal, the file one, adds no turn of the event loop between the check above and this.)
    const recorded = this.opts.journal.recordEpoch(cmd.workloadId, cmd.epoch);
    if (recorded) await recorded;
    this.newestEpoch.set(cmd.workloadId, cmd.epoch);
    if (!driver.capabilities.has(cmd.action)) return answer('failed', `unsupported: the ${driver.type} driver cannot ${cmd.action}`);
    const ac = new AbortController();
    const timer = this.clock.setTimeout(() => ac.abort(), Math.max(0, cmd.deadline - startedAt));
    try {
      const out = await driver.execute(cmd.action, cmd.params, { commandId: cmd.commandId, epoch: cmd.epoch, deadline: cmd.deadline, signal: ac.signal });
      if (cmd.action === 'promote' || cmd.action === 'unfence') this.selfFenced = false;
      return await answer('done', undefined, out.detail ?? {});
    } catch (e) {
      return answer('failed', isDriverError(e) ? e.reason : `driver error: ${(e as Error).message}`);
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  private async publish(result: CommandResult): Promise<void> {
    try {
      await this.bus.publish(this.subjects.commandResult(this.opts.siteId), encodeJson(result), { headers: activeTraceHeaders() });
      this.unsent.delete(result.commandId);
    } catch (e) {
      // Kept and sent again once NATS is back: a coordinator waiting on a promotion hears of it
      // then, not only after its command times out and is sent again. (A duplicate result is
      // harmless: the coordinator acts on the first and dead-letters the rest.)
      this.unsent.set(result.commandId, result);
      this.opts.logger.error({ err: e, commandId: result.commandId }, 'result not published; kept until NATS is back');
    }
  }

  /** Sends the results that could not be published, oldest first, one round at a time. */
  private async resendUnsent(): Promise<void> {
    if (this.resending || this.unsent.size === 0) return;
    this.resending = true;
    try {
      for (const result of [...this.unsent.values()]) {
        if (this.stopped) return;
        this.opts.logger.info({ commandId: result.commandId }, 'publishing a result kept during a NATS outage');
        await this.publish(result);
        if (this.unsent.has(result.commandId)) return; // still down: next beat
      }
    } finally {
      this.resending = false;
    }
  }
}
