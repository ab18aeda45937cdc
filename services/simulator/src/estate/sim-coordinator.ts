import { CommandResultSchema, HeartbeatSchema, ObservationSchema, type Command, type SiteConfig, type Subjects, type WorkloadInput, type WorkloadSetup, type WorkloadView } from '@drc/contracts';
import { LeaderElector, ObservationTracker, SiteTracker, WorkloadRunner } from '@drc/coordinator';
import type { EventStore } from '@drc/event-store';
import type { Origin } from '@drc/history';
import type { BusMessage, LeaseStore, Logger } from '@drc/runtime';
import type { SimClock } from '../kernel/clock';
import type { Scheduler, SimProcess } from '../kernel/scheduler';
import type { SimBus } from '../net/jetstream';

export interface SimCoordinatorOptions {
  id: string;
  subjects: Subjects;
  sites: SiteConfig[];
  workloads: Array<Omit<WorkloadSetup, 'at'>>;
  sched: Scheduler;
  proc: SimProcess;
  clock: SimClock;
  bus: SimBus;
  leases: LeaseStore;
  store: EventStore;
  logger: Logger;
  siteLeaseTtlMs: number;
  leaderTtlMs: number;
  startupGraceMs: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * STAND-IN for the coordinator core, used until that core runs over ports (issue 18 part 1):
 * thin glue around the REAL pieces the coordinator is made of: the leader elector (over the
 * simulated lease KV and clock), the site tracker and observation tracker (failure detection),
 * and one WorkloadRunner per workload (decide with the real statechart → append to the event
 * store with the expected version → dispatch), over the in-memory event store. The glue mirrors
 * the production coordinator's: heartbeats ordered per agent incarnation, site transitions into
 * SITE_STATUS / PRIMARY_FAILED inputs, command results accepted only from the site the command
 * was sent to. Only the leader consumes agent messages and acts.
 */
export class SimCoordinator {
  private readonly elector: LeaderElector;
  private readonly tracker: SiteTracker;
  private readonly observations: ObservationTracker;
  private readonly runners = new Map<string, WorkloadRunner>();
  private readonly lastHeard = new Map<string, { incarnation: string; startedAt: number; seq: number }>();
  private leaderEpoch = 0;
  private active = false;
  private activation: Promise<void> = Promise.resolve();

  constructor(private readonly o: SimCoordinatorOptions) {
    const now = o.clock.now();
    this.tracker = new SiteTracker({ sites: o.sites, defaultLeaseTtlMs: o.siteLeaseTtlMs, graceUntil: now + o.startupGraceMs, blackoutGraceMs: o.startupGraceMs });
    this.observations = new ObservationTracker({ refreshMs: 30_000 });
    this.elector = new LeaderElector({ leases: o.leases, candidateId: o.id, ttlMs: o.leaderTtlMs, logger: o.logger, clock: o.clock });
  }

  get isLeader(): boolean {
    return this.elector.isLeader();
  }

  views(): WorkloadView[] {
    return [...this.runners.values()].map((r) => r.view);
  }

  async start(): Promise<void> {
    const { bus, subjects, clock } = this.o;
    bus.subscribe(subjects.allHeartbeats(), (_s, data) => this.onHeartbeat(data));
    clock.setInterval(() => this.evaluateSites(), 200);
    this.elector.onChange((state) => {
      this.activation = this.activation.then(() => (state.leader ? this.activate(state.leaderEpoch) : this.deactivate())).catch((e: unknown) => this.o.logger.error({ err: e }, 'leadership change failed'));
    });
    await this.elector.start();
  }

  private async activate(leaderEpoch: number): Promise<void> {
    const { sched, proc, store, logger, clock, bus, subjects } = this.o;
    this.leaderEpoch = leaderEpoch;
    sched.trace.record(sched.now, proc.id, 'leader', `epoch ${leaderEpoch}`);
    const writer = { coordinatorId: this.o.id, leaderEpoch };
    for (const r of this.runners.values()) r.stop();
    this.runners.clear();
    for (const w of this.o.workloads) {
      const deps = {
        store,
        writer,
        logger,
        now: () => clock.now(),
        clock,
        dispatch: (cmd: Command) => bus.publish(subjects.commands(cmd.siteId), enc.encode(JSON.stringify(cmd)), { msgId: cmd.commandId }),
        canAct: () => this.isLeader,
        snapshotEvery: 0,
      };
      const runner = new WorkloadRunner(w.workloadId, deps);
      this.runners.set(w.workloadId, runner);
      await runner.start(w);
    }
    this.active = true;
    const messages = await bus.consume(subjects.streams.agents, 'coordinator', { ackWaitMs: 5000, filterSubjects: [subjects.allObservations(), subjects.allCommandResults()] });
    void (async () => {
      for await (const m of messages) {
        if (!this.active) {
          m.nak();
          continue;
        }
        this.onAgentMessage(m);
      }
    })();
    this.consumption = messages;
  }
  private consumption: { close(): Promise<void> } | undefined;

  private async deactivate(): Promise<void> {
    this.active = false;
    this.o.sched.trace.record(this.o.sched.now, this.o.proc.id, 'standby', '');
    await this.consumption?.close();
    this.consumption = undefined;
    for (const r of this.runners.values()) r.stop();
  }

  /** Orders heartbeats per agent incarnation: a replay, or an earlier run's, is ignored. */
  private onHeartbeat(data: Uint8Array): void {
    const parsed = HeartbeatSchema.safeParse(safeJson(data));
    if (!parsed.success) return;
    const hb = parsed.data;
    const last = this.lastHeard.get(hb.siteId);
    if (last) {
      if (last.incarnation === hb.incarnation.id && hb.seq <= last.seq) return;
      if (last.incarnation !== hb.incarnation.id && hb.incarnation.startedAt < last.startedAt) return;
    }
    this.lastHeard.set(hb.siteId, { incarnation: hb.incarnation.id, startedAt: hb.incarnation.startedAt, seq: hb.seq });
    this.tracker.heartbeat(hb, this.o.clock.now());
  }

  private origin(): Origin {
    return { actor: { kind: 'coordinator', id: this.o.id } };
  }

  private submit(workloadId: string, input: WorkloadInput): void {
    const r = this.runners.get(workloadId);
    if (!r || !this.active) return;
    r.submit(input, this.origin())
      .then((out) => {
        if (out?.decisions.some((d) => d.type === 'FailoverCompleted')) this.observations.resetPrimary(workloadId);
      })
      .catch(() => undefined);
  }

  private onAgentMessage(m: BusMessage): void {
    const raw = safeJson(m.data);
    const kind = (raw as { kind?: unknown } | undefined)?.kind;
    const now = this.o.clock.now();
    if (kind === 'observation') {
      const parsed = ObservationSchema.safeParse(raw);
      if (parsed.success) {
        const inputs = this.observations.observe(parsed.data, now, (id) => this.runners.get(id)?.view);
        for (const x of inputs) this.submit(x.workloadId, x.input);
      }
    } else if (kind === 'commandResult') {
      const parsed = CommandResultSchema.safeParse(raw);
      if (parsed.success) {
        const r = parsed.data;
        const pending = this.runners.get(r.workloadId)?.pendingCommand(r.commandId);
        // A result counts only from the site the command was sent to (issue 17, 1).
        if (pending && pending.siteId === r.siteId && m.subject === this.o.subjects.commandResult(r.siteId)) {
          this.submit(r.workloadId, { type: 'COMMAND_RESULT', at: now, commandId: r.commandId, siteId: r.siteId, action: r.action, epoch: r.epoch, status: r.status, ...(r.reason ? { reason: r.reason } : {}), detail: r.detail });
        }
      }
    }
    m.ack();
  }

  private evaluateSites(): void {
    for (const t of this.tracker.evaluate(this.o.clock.now())) {
      this.o.sched.trace.record(this.o.sched.now, this.o.proc.id, 'site', `${t.siteId} ${t.from}->${t.to}`);
      if (!this.active) continue;
      const becameLost = t.to === 'lost';
      const recovered = t.from === 'lost' && t.to === 'up';
      if (!becameLost && !recovered) continue;
      for (const runner of this.runners.values()) {
        const view = runner.view;
        if (!view.replicas.some((r) => r.siteId === t.siteId)) continue;
        const lease = t.leaseExpiredAt !== undefined ? { leaseExpiredAt: t.leaseExpiredAt } : {};
        this.submit(view.workloadId, { type: 'SITE_STATUS', at: t.at, siteId: t.siteId, status: becameLost ? 'lost' : 'up', evidence: t.evidence, ...lease });
        if (becameLost && view.primarySite === t.siteId) {
          this.observations.markPrimaryDown(view.workloadId);
          for (const x of this.observations.freshReplicaInputs(view.workloadId, t.siteId, t.at, view)) this.submit(view.workloadId, x.input);
          this.submit(view.workloadId, { type: 'PRIMARY_FAILED', at: t.at, siteId: t.siteId, reason: 'siteLost', evidence: t.evidence, ...lease });
        }
      }
    }
  }
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(dec.decode(data)) as unknown;
  } catch {
    return undefined;
  }
}
