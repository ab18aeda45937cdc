import { randomUUID } from 'node:crypto';
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
import {
  context,
  decodeJson,
  durableConsumer,
  encodeJson,
  ensureStreams,
  jetStreamOf,
  natsHeaders,
  runWithMessageContext,
  trace,
  traceHeaders,
  type ConsumerMessages,
  type JetStreamClient,
  type Logger,
  type NatsConnection,
  type NatsSubscription,
  pullOptions,
} from '@drc/runtime';
import { SpanKind, type Tracer } from '@opentelemetry/api';
import { isDriverError, type ProbeResult, type WorkloadDriver } from '../drivers/driver';
import type { WatchdogBeat } from '../watchdog/watchdog';
import type { AgentStateJournal } from './state';
import type { Witness } from './witness';

export interface AgentWorkload {
  workloadId: string;
  driver: WorkloadDriver;
}

export interface SiteAgentOptions {
  siteId: string;
  agentId: string;
  prefix: string;
  nc: NatsConnection;
  workloads: AgentWorkload[];
  /** Other sites of the estate (for witness reports and the self-fencing majority). */
  peerSites: string[];
  heartbeatMs: number;
  leaseTtlMs: number;
  logger: Logger;
  now?: () => number;
  /** Where to record the newest heartbeat time heard from each other site (drivers read it). */
  peerSentAt?: Map<string, number>;
  /** OpenTelemetry tracer: spans for observations and command execution (no-op when absent). */
  tracer?: Tracer;
  /** Direct agent-to-agent probes (not through NATS): peers heard this way count as reachable. */
  witness?: Witness;
  /** Durable memory of epochs and command results (survives restarts); in memory only when absent. */
  journal?: AgentStateJournal;
  /** A driver health probe slower than this counts as failed (default: the heartbeat interval, at least 200 ms). */
  probeTimeoutMs?: number;
  /** Cluster servers holding each drc stream when this agent is the one creating it (default 1). */
  streamReplicas?: number;
  /** This run of the agent (default: a fresh random id, started now). Never persisted: a new process is a new incarnation. */
  incarnation?: AgentIncarnation;
  /**
   * The agent's watchdog (watchdog/), told of every heartbeat round: the lease deadline it
   * renewed and the roles last observed. It fences this site's primaries if the agent dies and
   * no agent renews the lease in time.
   */
  watchdog?: { beat(b: WatchdogBeat): void };
}

/** Resolves with `p`, or rejects after `ms` (the work itself is not cancelled). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
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
 * The site agent: heartbeats and lease renewal, observations, and command execution.
 *
 * Safety: a command whose epoch is older than the newest seen for its workload is refused
 * (fencing token); a repeated command id is answered with the first result, never run twice;
 * a command past its deadline is refused. When the agent's lease lapses unrenewed and it
 * cannot hear a majority of the other sites, it fences every primary it holds (it may be the
 * cut-off side of a partition, and a replica elsewhere is about to be promoted).
 */
export class SiteAgent {
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
  private js!: JetStreamClient;
  private seq = 0;
  private hbTimer?: NodeJS.Timeout;
  private hbSub?: NatsSubscription;
  private messages?: ConsumerMessages;
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

  constructor(private readonly opts: SiteAgentOptions) {
    this.subjects = createSubjects(opts.prefix);
    this.now = opts.now ?? Date.now;
    this.byWorkload = new Map(opts.workloads.map((w) => [w.workloadId, w.driver]));
    this.peerSentAt = opts.peerSentAt ?? new Map();
    this.lastRenewedAt = this.now();
    this.incarnation = opts.incarnation ?? { id: randomUUID(), startedAt: this.now() };
    for (const [w, e] of opts.journal?.state.epochs ?? []) this.newestEpoch.set(w, e);
    // A result from an earlier run is sent again (to a repeated command) by this one.
    for (const [id, result] of opts.journal?.state.results ?? []) this.done.set(id, { result: { ...result, incarnation: this.incarnation } });
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

  async start(): Promise<void> {
    const { nc } = this.opts;
    await ensureStreams(nc, this.subjects, { replicas: this.opts.streamReplicas ?? 1 });
    this.js = jetStreamOf(nc);
    this.hbSub = nc.subscribe(this.subjects.allHeartbeats(), {
      callback: (err, msg) => {
        if (err) return;
        try {
          const hb = HeartbeatSchema.parse(decodeJson(msg.data));
          if (hb.siteId !== this.opts.siteId) {
            this.peerHeard.set(hb.siteId, this.now());
            if (hb.sentAt > (this.peerSentAt.get(hb.siteId) ?? 0)) this.peerSentAt.set(hb.siteId, hb.sentAt);
          }
        } catch {
          /* not ours to judge: the coordinator dead-letters bad heartbeats */
        }
      },
    });
    const consumer = await durableConsumer(nc, this.subjects.streams.commands, `agent_${this.opts.siteId}`, {
      filter: this.subjects.commands(this.opts.siteId),
      deliverAll: false,
      ackWaitMs: 60_000,
    });
    this.messages = await consumer.consume(pullOptions(64));
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
          .then(() => runWithMessageContext(m.headers, () => this.onCommand(m.data)))
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
    this.hbTimer = setInterval(() => void this.beat(), this.opts.heartbeatMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.hbSub?.unsubscribe();
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
      (async () => {
        this.opts.nc.publish(this.subjects.heartbeat(this.opts.siteId), encodeJson(hb));
        await this.opts.nc.flush();
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
    if (renewed) await withTimeout(this.observe(), this.probeTimeoutMs + this.opts.heartbeatMs).catch((e: unknown) => this.opts.logger.warn({ err: e }, 'observation not published'));
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
        const p: ProbeResult = await withTimeout(driver.probe(), this.probeTimeoutMs).catch(() => ({ role: 'unknown' as const, healthy: false, detail: `health probe timed out after ${this.probeTimeoutMs} ms` }));
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
        this.js.publish(this.subjects.observation(this.opts.siteId), encodeJson(obs), { headers: traceHeaders(natsHeaders()) }),
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
      this.opts.journal?.recordResult(result);
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
    this.opts.journal?.recordEpoch(cmd.workloadId, cmd.epoch);
    this.newestEpoch.set(cmd.workloadId, cmd.epoch);
    if (!driver.capabilities.has(cmd.action)) return answer('failed', `unsupported: the ${driver.type} driver cannot ${cmd.action}`);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), Math.max(0, cmd.deadline - startedAt));
    try {
      const out = await driver.execute(cmd.action, cmd.params, { commandId: cmd.commandId, epoch: cmd.epoch, deadline: cmd.deadline, signal: ac.signal });
      if (cmd.action === 'promote' || cmd.action === 'unfence') this.selfFenced = false;
      return await answer('done', undefined, out.detail ?? {});
    } catch (e) {
      return answer('failed', isDriverError(e) ? e.reason : `driver error: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private async publish(result: CommandResult): Promise<void> {
    try {
      await this.js.publish(this.subjects.commandResult(this.opts.siteId), encodeJson(result), { headers: traceHeaders(natsHeaders()) });
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
