import type { CommandResult, DrcConfig, FieldIssue, Observation, Subjects, WorkloadInput, WorkloadView } from '@drc/contracts';
import type { Origin } from '@drc/history';
import { encodeJson, recordHeaders, runWithMessageContext, type Bus, type BusConsumption, type Clock, type Logger } from '@drc/runtime';
import type { ObservationTracker, SiteTracker } from '../detection/index';
import type { WorkloadSet } from '../loop/index';
import { AgentSequencer, outOfOrderReason } from './agent-sequencer';
import { checkCommandResult } from './command-result';
import { deadLetterFor, validateAgentMessage } from './validate';

/** What ingestion counts (the coordinator's `stats`). */
export interface IngestStats {
  deadLetters: number;
  staleDropped: number;
}

/** What ingestion reports to metrics (the Prometheus metrics satisfy it). */
export interface IngestMetrics {
  onDeadLetter(): void;
  onAgentMessage(kind: string): void;
}

export interface AgentIngestDeps {
  config: DrcConfig;
  subjects: Subjects;
  logger: Logger;
  /** Dead letters are published on it. */
  bus: Bus;
  now: () => number;
  sites: SiteTracker;
  observations: ObservationTracker;
  workloads: WorkloadSet;
  stats: IngestStats;
  metrics?: IngestMetrics;
}

/** Pure. Whether the workload has a copy at the site. */
function hostsCopyAt(view: WorkloadView, siteId: string): boolean {
  for (const r of view.replicas) if (r.siteId === siteId) return true;
  return false;
}

/**
 * Agent messages in: each is validated, ordered per agent incarnation, and turned into workload
 * inputs, or dead-lettered with its reason (invariant 7). Heartbeats keep the site tracker's
 * leases; observations and command results become inputs of their workloads.
 */
export class AgentIngest {
  /** Heartbeats and observations, each ordered per agent incarnation (a restarted agent's seq starts over). */
  private readonly heartbeatOrder: AgentSequencer;
  private readonly observationOrder: AgentSequencer;

  constructor(private readonly deps: AgentIngestDeps) {
    // An agent whose host clock stepped back is heard again by its live heartbeats once its
    // previous run has been silent for a lease; its observations follow the run its heartbeats established.
    this.heartbeatOrder = new AgentSequencer({ supersedeSilentAfterMs: deps.config.coordinator.siteLeaseTtlMs });
    this.observationOrder = new AgentSequencer();
  }

  deadLetter(subject: string, data: Uint8Array, reason: string, issues: FieldIssue[]): void {
    const { stats, metrics, logger, bus, subjects } = this.deps;
    stats.deadLetters++;
    metrics?.onDeadLetter();
    logger.warn({ subject, reason }, 'agent message rejected (dead-lettered)');
    const dl = deadLetterFor(subject, data, reason, issues, this.deps.now());
    bus.publish(subjects.deadLetter(), encodeJson(dl)).catch((e: unknown) => {
      logger.error({ err: e }, 'dead-letter publish failed');
    });
  }

  onHeartbeat(subject: string, data: Uint8Array): void {
    const { subjects, sites, metrics, stats, logger } = this.deps;
    const v = validateAgentMessage(subjects, subject, data, (s) => sites.has(s));
    if (!v.ok) return this.deadLetter(subject, data, v.reason, v.issues);
    if (v.message.kind !== 'heartbeat') return this.deadLetter(subject, data, `expected a heartbeat, got ${v.message.kind}`, []);
    metrics?.onAgentMessage('heartbeat');
    const hb = v.message;
    const order = this.heartbeatOrder.admit(hb, { now: this.deps.now(), live: true });
    if (!order.ok) {
      stats.staleDropped++;
      const { reason, issues } = outOfOrderReason('heartbeat', hb, order);
      return this.deadLetter(subject, data, reason, issues);
    }
    if (order.restarted) logger.info({ siteId: hb.siteId, agentId: hb.agentId, incarnation: hb.incarnation, previous: order.previous }, 'agent restarted: a new incarnation is heard');
    sites.heartbeat(hb, this.deps.now());
  }

  async onAgentMessage(subject: string, data: Uint8Array): Promise<void> {
    const { subjects, sites, metrics } = this.deps;
    const v = validateAgentMessage(subjects, subject, data, (s) => sites.has(s));
    if (!v.ok) return this.deadLetter(subject, data, v.reason, v.issues);
    const msg = v.message;
    metrics?.onAgentMessage(msg.kind);
    if (msg.kind === 'observation') return this.onObservation(subject, data, msg);
    if (msg.kind === 'commandResult') return this.onCommandResult(subject, data, msg, v.siteId);
    return this.deadLetter(subject, data, `heartbeats belong on ${subjects.heartbeat(msg.siteId)}`, []);
  }

  private async onObservation(subject: string, data: Uint8Array, msg: Observation): Promise<void> {
    const { workloads, stats, logger, sites, observations, config } = this.deps;
    const order = this.observationOrder.check(msg, { now: this.deps.now(), established: this.heartbeatOrder.current(msg) });
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
      const view = workloads.runner(id)?.view;
      if (!view) return this.deadLetter(subject, data, `unknown workload "${id}"`, [{ path: `workloads[${i}].workloadId`, message: 'unknown workload' }]);
      if (!hostsCopyAt(view, msg.siteId)) {
        return this.deadLetter(subject, data, `workload "${id}" has no copy at site "${msg.siteId}"`, [{ path: `workloads[${i}].workloadId`, message: 'not hosted at this site' }]);
      }
      views[i] = view;
    }
    this.observationOrder.take(msg, this.deps.now());
    const now = this.deps.now();
    if (msg.observedAt < now - 4 * config.coordinator.siteLeaseTtlMs) {
      stats.staleDropped++; // a backlog from before a restart: facts too old to act on
      return;
    }
    if (sites.status(msg.siteId) === 'lost') {
      // A lost site stays lost until its own heartbeat is heard (heartbeats are not stored, so
      // one proves the agent is alive now). Until then its observations are old news: a backlog
      // redelivered to a coordinator that just took the lead, say. Taken as facts, a healthy
      // report written before the site went dark would cancel its primary's failover (PRIMARY_
      // RECOVERED) and, with no later report to come, leave the workload on a lost site (chaos seed 1902).
      stats.staleDropped++;
      logger.debug({ siteId: msg.siteId, seq: msg.seq }, 'observation from a lost site not taken');
      return;
    }
    const origin: Origin = { actor: { kind: 'agent', id: msg.agentId }, correlationId: `${msg.agentId}:${msg.incarnation.id}:${msg.seq}` };
    const inputs = observations.observe(msg, now, (_id, i) => views[i]);
    await Promise.all(inputs.map((x) => workloads.submit(x.workloadId, x.input, origin)));
  }

  /** `fromSite`: the site of the subject the result came on (validated), the only word on who sent it. */
  private async onCommandResult(subject: string, data: Uint8Array, msg: CommandResult, fromSite: string): Promise<void> {
    const runner = this.deps.workloads.runner(msg.workloadId);
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
      at: this.deps.now(),
      commandId: msg.commandId,
      siteId: fromSite,
      action: msg.action,
      epoch: msg.epoch,
      status: msg.status,
      ...(msg.reason !== undefined ? { reason: msg.reason } : {}),
      detail: msg.detail,
    };
    await this.deps.workloads.submit(msg.workloadId, input, { actor: { kind: 'agent', id: fromSite }, correlationId: msg.commandId });
  }
}

/** Agent messages whose inputs may be waiting for their appends at once. */
const INGEST_IN_FLIGHT = 64;

/** Pure. A trace-context carrier for a bus message's headers (undefined when it has none). */
export function messageHeaders(headers: Readonly<Record<string, string>> | undefined): ReturnType<typeof recordHeaders> | undefined {
  return headers ? recordHeaders({ ...headers }) : undefined;
}

/**
 * Not pure. Takes the agents' durable messages off `messages` until it is closed: each one is
 * handled in its trace context and acknowledged once handled; while `canAct` is false each is
 * left for the leader (nak). Resolves when the consumption ends.
 */
export async function consumeAgentMessages(
  messages: BusConsumption,
  opts: { canAct: () => boolean; handle: (subject: string, data: Uint8Array) => Promise<void>; logger: Logger; clock: Clock },
): Promise<void> {
  // Messages are taken in order and each one's inputs are queued on their workloads' runners
  // at once (per-workload order is kept by the runners); up to INGEST_IN_FLIGHT messages
  // then wait for their appends concurrently, so one large observation does not hold up the
  // failure report behind it. A message is acknowledged once its inputs are recorded.
  const inFlight = new Set<Promise<void>>();
  for await (const m of messages) {
    if (!opts.canAct()) {
      m.nak(); // leave it for the leader
      continue;
    }
    const p: Promise<void> = runWithMessageContext(messageHeaders(m.headers), () => opts.handle(m.subject, m.data))
      .catch((e: unknown) => opts.logger.error({ err: e, subject: m.subject }, 'agent message handling failed'))
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
    else await opts.clock.yield();
  }
}
