import { createSubjects, DEFAULT_POLICY, DrcConfigSchema, effectivePolicy, type Policy, type WorkloadSetup } from '@drc/contracts';
import { CoordinatorCore, leaseRequestTimeoutMs } from '@drc/coordinator';
import { createMemoryEventData, createMemoryEventStore, type MemoryEventData } from '@drc/event-store';
import type { Logger } from '@drc/runtime';
import { InvariantChecker, type Violation } from '../check/invariants';
import { SimClock, withVirtualGlobals } from '../kernel/clock';
import { Prng } from '../kernel/prng';
import { Scheduler, type SimProcess } from '../kernel/scheduler';
import { Trace, type TraceEntry } from '../kernel/trace';
import { SimJetStream } from '../net/jetstream';
import { SimLeaseKv } from '../net/lease-kv';
import { Network } from '../net/network';
import { PgCluster } from '../pg/cluster';
import { CALM_PG, SimPgDriver } from '../pg/driver';
import { planFaults, type FaultEvent, type FaultPlan } from './faults';
import { AgentCore, emptyAgentState, type AgentState } from '@drc/site-agent';
import { diskJournal, simWitness, SimWatchdog } from './sim-site';

export interface EstateConfig {
  seed: number;
  /** Simulated run length (ms). */
  durationMs?: number;
  sites?: string[];
  /** 1–3; drawn from the seed when absent. */
  coordinators?: number;
  /** Drawn from the seed when absent (5–20). */
  workloads?: number;
  /** Keep every trace entry (tests); otherwise only the tail. */
  keepTrace?: boolean;
  /** Overrides the seed's fault plan (tests, shrinking). */
  plan?: (shape: Parameters<typeof planFaults>[1], rng: Prng) => FaultPlan;
  /** Stop at the first violation (batches) instead of running to the end. */
  stopOnViolation?: boolean;
  /**
   * Re-creates, from the simulator's side, the wire behaviour of a fixed defect, to show the
   * simulator finds it (issue 18 acceptance): 'agent-incarnation-reused' restarts an agent under
   * its previous incarnation, its seq starting at 0 again: what every agent did before issue 17,
   * item 2 (the coordinator then takes its messages for replays).
   */
  regressions?: ReadonlyArray<Regression>;
}

export const REGRESSIONS = ['agent-incarnation-reused'] as const;
export type Regression = (typeof REGRESSIONS)[number];

export interface RunResult {
  seed: number;
  hash: string;
  violations: Violation[];
  plan: FaultPlan;
  simulatedMs: number;
  wallMs: number;
  /** CPU time of this process during the run (user + system), ms: the machine may be shared. */
  cpuMs: number;
  steps: number;
  traceEntries: number;
  tail: TraceEntry[];
  estate: { sites: number; coordinators: number; workloads: number; synchronous: number };
  counts: Record<string, number>;
  /** With keepTrace: every trace entry and every stored event (for timelines of a failure). */
  full?: { trace: TraceEntry[]; events: MemoryEventData['log'] };
}

const LEASE_TTL_MS = 3000;
const HEARTBEAT_MS = 1000;

/** Pure. The last recorded protection state of every workload stream. */
function lastStates(events: MemoryEventData): string[] {
  const last = new Map<string, string>();
  for (const e of events.log) if (e.type === 'WorkloadStateChanged') last.set(e.stream, (e.data as { to: string }).to);
  return [...last.values()];
}

/** A Logger that drops everything (the trace is the simulation's log). */
function silentLogger(): Logger {
  const noop = () => undefined;
  const l: Record<string, unknown> = { level: 'silent', fatal: noop, error: noop, warn: noop, info: noop, debug: noop, trace: noop, silent: noop };
  l.child = () => l;
  l.isLevelEnabled = () => false;
  return l as unknown as Logger;
}

/**
 * One seeded run of a whole estate: 3 sites, 1–3 coordinators, N workloads with simulated
 * PostgreSQL copies, a simulated NATS/JetStream and lease KV, and the fault plan the seed
 * chooses; invariants checked after every step. Returns the trace hash (the same seed gives
 * the same hash) and any violations.
 *
 * What is real code and what is simulated: see README.md of this workspace.
 */
export async function runEstate(cfg: EstateConfig): Promise<RunResult> {
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  const root = new Prng(cfg.seed);
  const shapeRng = root.fork('shape');
  const trace = new Trace(400, cfg.keepTrace ?? false);
  const sched = new Scheduler(trace);
  const net = new Network(sched, root.fork('net'), { baseMs: 1, jitterMs: 3 });
  const sites = cfg.sites ?? ['A', 'B', 'C'];
  const coordIds = Array.from({ length: cfg.coordinators ?? shapeRng.int(1, 3) }, (_, i) => `coord-${i + 1}`);
  const workloadCount = cfg.workloads ?? shapeRng.int(5, 20);
  const durationMs = cfg.durationMs ?? 10 * 60_000;
  const subjects = createSubjects('drc');
  const logger = silentLogger();

  // NATS, its streams and the lease bucket.
  const js = new SimJetStream(sched, net, sched.process('nats'), root.fork('js'));
  js.addStream({ name: subjects.streams.agents, subjects: [subjects.allObservations(), subjects.allCommandResults()] });
  js.addStream({ name: subjects.streams.commands, subjects: [subjects.allCommands()] });
  const kv = new SimLeaseKv(sched, net, root.fork('kv'));

  // Workloads and their copies.
  const workloads: Array<Omit<WorkloadSetup, 'at'>> = [];
  const clusters = new Map<string, PgCluster>();
  const policies = new Map<string, Policy>();
  let synchronous = 0;
  for (let i = 0; i < workloadCount; i++) {
    const workloadId = `db${String(i + 1).padStart(2, '0')}`;
    const primarySite = shapeRng.pick(sites);
    const sync = shapeRng.chance(0.3);
    if (sync) synchronous++;
    const policy: Policy = { ...DEFAULT_POLICY, debounceMs: shapeRng.pick([0, 1000, 2000]), cooldownSeconds: 300, maxDataLossSeconds: sync ? 0 : 30 };
    policies.set(workloadId, policy);
    workloads.push({ workloadId, primarySite, sites: sites.map((siteId, p) => ({ siteId, priority: p + 1 })), policy, epoch: 0 });
    const c = new PgCluster(sched, net, root.fork(`pg-${workloadId}`), { workloadId, sites, primarySite, synchronous: sync, writeEveryMs: 1000, shipEveryMs: 200, hostNode: (s) => `site-${s}` });
    clusters.set(workloadId, c);
  }
  for (const s of sites) net.attach(`site-${s}`, sched.process(`host-${s}`));

  const events: MemoryEventData = createMemoryEventData();
  const shape = { sites, coordinators: coordIds, workloads: workloads.map((w) => w.workloadId), durationMs, leaseTtlMs: LEASE_TTL_MS, warmupMs: 30_000, quietTailMs: 60_000 };
  const plan = cfg.plan ? cfg.plan(shape, root.fork('faults')) : planFaults(root.fork('faults'), shape);
  const rate = (k: string) => plan.rates[k] ?? 0;
  js.faults = { volatileLoss: rate('volatileLoss'), duplicatePublish: rate('duplicates'), ackLoss: rate('ackLoss'), deliveryDelayMs: rate('duplicates') > 0 ? 500 : 0 };
  kv.faults = { failRate: rate('kvFaults'), slowRate: rate('kvFaults'), slowMaxMs: 1500 };
  const pgFaults = {
    ...CALM_PG,
    actionMs: [20, rate('slowCommands') > 0 ? 15_000 : 300] as [number, number],
    actionFailRate: rate('commandFailures'),
    probeStallRate: rate('probeStall'),
    probeStallMs: 2000,
    probeFlapRate: rate('probeFlap'),
  };

  const checker = new InvariantChecker({ sched, clusters, policies, events, rogueGraceMs: 8000, dataLossSlackMs: 2000, benign: () => plan.benign });

  // Processes: agents and coordinators, each rebuilt from its disk on restart.
  const clocks = new Map<SimProcess, SimClock>();
  const clockOf = (p: SimProcess | undefined) => (p ? clocks.get(p) : undefined);
  const disks = new Map<string, AgentState>(sites.map((s) => [s, emptyAgentState()]));
  const agents = new Map<string, AgentCore>();
  const regress = new Set(cfg.regressions ?? []);
  const watchdogs = new Map<string, SimWatchdog>();
  const procRng = root.fork('procs');
  const clockFor = (proc: SimProcess) => {
    let clock = clocks.get(proc);
    if (!clock) {
      clock = new SimClock(sched, proc, { skewMs: procRng.int(-500, 500), driftPpm: procRng.int(-200, 200) });
      clocks.set(proc, clock);
    }
    return clock;
  };
  const driversFor = (siteId: string, proc: SimProcess, clock: SimClock) =>
    new Map(workloads.map((w) => [w.workloadId, new SimPgDriver(clusters.get(w.workloadId)!, siteId, clock, root.fork(`driver-${proc.id}-${w.workloadId}-${proc.incarnation}`), pgFaults)]));
  const startWatchdog = (siteId: string) => {
    const proc = sched.process(`watchdog-${siteId}`);
    const clock = clockFor(proc);
    const wd = new SimWatchdog({ sched, proc, clock, siteId, drivers: driversFor(siteId, proc, clock), leaseTtlMs: LEASE_TTL_MS, heartbeatMs: HEARTBEAT_MS });
    watchdogs.set(siteId, wd);
    sched.at(sched.now, () => wd.start(), 'watchdog-start', proc);
  };
  const startAgent = (siteId: string) => {
    const proc = sched.process(`agent-${siteId}`);
    net.attach(`agent-${siteId}`, proc);
    const clock = clockFor(proc);
    const drivers = driversFor(siteId, proc, clock);
    const wd = watchdogs.get(siteId);
    wd?.agentStarted();
    const agent = new AgentCore({
      siteId,
      agentId: `${siteId}@host-${siteId}`,
      prefix: subjects.prefix,
      workloads: [...drivers].map(([workloadId, driver]) => ({ workloadId, driver })),
      peerSites: sites.filter((s) => s !== siteId),
      heartbeatMs: HEARTBEAT_MS,
      leaseTtlMs: LEASE_TTL_MS,
      logger,
      clock,
      random: root.fork(`agent-${siteId}-${proc.incarnation}`),
      bus: js.connect(`agent-${siteId}`, proc, clock),
      journal: diskJournal(disks.get(siteId)!, (w, from, to) => checker.onEpoch(siteId, w, from, to)),
      witness: simWitness({ net, siteId, peers: sites.filter((s) => s !== siteId), clock, alive: (p) => sched.process(`agent-${p}`).state !== 'crashed', timeoutMs: 500 }),
      ...(wd ? { watchdog: { beat: (b) => wd.beat(b) } } : {}),
      ...(regress.has('agent-incarnation-reused') && agents.get(siteId) ? { incarnation: agents.get(siteId)!.incarnation } : {}),
    });
    agents.set(siteId, agent);
    sched.at(sched.now, () => void agent.start().catch(() => undefined), 'agent-start', proc);
  };
  const config = DrcConfigSchema.parse({
    nats: { url: 'nats://sim:4222', prefix: subjects.prefix, replicas: 1 },
    coordinator: { siteLeaseTtlMs: LEASE_TTL_MS, startupGraceMs: 10_000, leaderTtlMs: LEASE_TTL_MS, replicaRefreshMs: 30_000 },
    sites: sites.map((id, i) => ({ id, priority: i + 1 })),
    workloads: workloads.map((w) => ({ id: w.workloadId, kind: 'database', driver: { type: 'postgres' }, primarySite: w.primarySite, replicaSites: sites.filter((x) => x !== w.primarySite), policy: w.policy })),
  });
  for (const w of config.workloads) policies.set(w.id, effectivePolicy(config, w));
  const coordinators = new Map<string, CoordinatorCore>();
  const storeDown = { until: -1 };
  const startCoordinator = (id: string) => {
    const proc = sched.process(id);
    net.attach(id, proc);
    let clock = clocks.get(proc);
    if (!clock) {
      clock = new SimClock(sched, proc, { skewMs: procRng.int(-500, 500), driftPpm: procRng.int(-200, 200) });
      clocks.set(proc, clock);
    }
    const c = clock;
    const store = createMemoryEventStore({
      data: events,
      now: () => c.now(),
      beforeCall: async () => {
        await c.sleep(1);
        if (sched.now < storeDown.until) throw new Error('event store outage (simulated)');
      },
    });
    const coord = new CoordinatorCore({
      config, store, logger, clock, random: root.fork(`${id}-${proc.incarnation}`), bus: js.connect(id, proc, clock),
      leases: kv.client(id, clock, leaseRequestTimeoutMs(LEASE_TTL_MS)),
      coordinatorId: id,
    });
    coordinators.set(id, coord);
    sched.at(sched.now, () => void coord.start().catch(() => undefined), 'coord-start', proc);
  };

  // One event per round for every cluster (not one per cluster): the world's ticks need no
  // process and start no async work, and per-cluster events were most of a run's steps.
  const allClusters = [...clusters.values()];
  const writeTick = () => {
    for (const c of allClusters) c.clientWrite();
    sched.after(1000, writeTick, 'pg-write', undefined);
  };
  const shipTick = () => {
    for (const c of allClusters) c.shipWal();
    sched.after(200, shipTick, 'pg-ship', undefined);
  };
  sched.after(500, writeTick, 'pg-write', undefined);
  sched.after(100, shipTick, 'pg-ship', undefined);
  for (const s of sites) startWatchdog(s);
  for (const s of sites) startAgent(s);
  for (const id of coordIds) startCoordinator(id);

  // Issue 17, item 1: command ids are predictable, so another site's agent can answer a fence
  // meant for the primary's site. The forger sees every command stored (NATS permissions would
  // hide them; ids can be guessed) and, at the rate drawn, publishes 'done' for a fence from a
  // third site, on that site's own subject (the only one its credentials allow), the body naming
  // the fenced site. A coordinator that took it would promote while the primary still writes.
  const forgeRate = rate('forgedResults');
  let forgedCount = 0;
  if (forgeRate > 0) {
    const forgeRng = root.fork('forger');
    js.storedListeners.push((stream, _subject, data) => {
      if (stream !== subjects.streams.commands || !forgeRng.chance(forgeRate)) return;
      const cmd = JSON.parse(new TextDecoder().decode(data)) as { commandId: string; workloadId: string; siteId: string; action: string; epoch: number };
      if (cmd.action !== 'fence') return;
      const from = forgeRng.pick(sites.filter((x) => x !== cmd.siteId));
      const proc = sched.process(`agent-${from}`);
      const clock = clockFor(proc);
      sched.after(forgeRng.int(1, 50), () => {
        const now = clock.now();
        const forged = { kind: 'commandResult', v: 1, incarnation: { id: `forger-${from}`, startedAt: now }, commandId: cmd.commandId, workloadId: cmd.workloadId, siteId: cmd.siteId, action: cmd.action, epoch: cmd.epoch, status: 'done', startedAt: now, completedAt: now, detail: { role: 'fenced' } };
        trace.record(sched.now, `forger-${from}`, 'forged-result', `${cmd.commandId} claims ${cmd.siteId}`);
        forgedCount++;
        void js.connect(`agent-${from}`, proc, clock).publish(subjects.commandResult(from), new TextEncoder().encode(JSON.stringify(forged))).catch(() => undefined);
      }, 'forge', proc);
    });
  }

  // The fault schedule.
  const crashFor = (proc: SimProcess, ms: number, restart: () => void) => {
    if (proc.state === 'crashed') return;
    sched.crash(proc);
    clocks.get(proc)?.clearAll();
    sched.at(sched.now + ms, () => {
      sched.restart(proc);
      restart();
    }, 'restart', undefined);
  };
  const apply = (f: FaultEvent) => {
    trace.record(sched.now, 'faults', f.kind, `${f.target}${f.other ? ` ${f.other}` : ''} ${f.durationMs}ms${f.amount !== undefined ? ` ${f.amount}` : ''}`);
    const later = (fn: () => void) => sched.at(sched.now + f.durationMs, fn, `heal-${f.kind}`, undefined);
    switch (f.kind) {
      case 'agentCrash':
        watchdogs.get(f.target)?.agentGone();
        return crashFor(sched.process(`agent-${f.target}`), f.durationMs, () => startAgent(f.target));
      case 'agentPause':
        return sched.pause(sched.process(`agent-${f.target}`), f.durationMs);
      case 'coordCrash':
        return crashFor(sched.process(f.target), f.durationMs, () => startCoordinator(f.target));
      case 'coordPause':
        return sched.pause(sched.process(f.target), f.durationMs);
      case 'natsRestart':
        return js.restart(f.durationMs);
      case 'cutSiteNats':
        net.cut(`agent-${f.target}`, 'nats');
        return void later(() => net.heal(`agent-${f.target}`, 'nats'));
      case 'cutCoordNats':
        net.cut(f.target, 'nats');
        return void later(() => net.heal(f.target, 'nats'));
      case 'cutWitness':
        net.cut(`agent-${f.target}`, `agent-${f.other!}`);
        return void later(() => net.heal(`agent-${f.target}`, `agent-${f.other!}`));
      case 'cutWal':
        net.cut(`site-${f.target}`, `site-${f.other!}`);
        return void later(() => net.heal(`site-${f.target}`, `site-${f.other!}`));
      case 'siteDown': {
        // The whole site goes dark: its agent, its watchdog and every database host there.
        crashFor(sched.process(`watchdog-${f.target}`), f.durationMs, () => startWatchdog(f.target));
        crashFor(sched.process(`agent-${f.target}`), f.durationMs, () => startAgent(f.target));
        for (const c of clusters.values()) c.crashHost(f.target);
        for (const n of ['nats', ...coordIds, ...sites.filter((s) => s !== f.target).map((s) => `agent-${s}`)]) net.cut(`agent-${f.target}`, n);
        for (const s of sites) if (s !== f.target) net.cut(`site-${f.target}`, `site-${s}`);
        return void later(() => {
          for (const c of clusters.values()) c.restartHost(f.target);
          for (const n of ['nats', ...coordIds, ...sites.filter((s) => s !== f.target).map((s) => `agent-${s}`)]) net.heal(`agent-${f.target}`, n);
          for (const s of sites) if (s !== f.target) net.heal(`site-${f.target}`, `site-${s}`);
        });
      }
      case 'hostRestart': {
        const c = clusters.get(f.other!)!;
        c.crashHost(f.target);
        return void later(() => c.restartHost(f.target));
      }
      case 'clockStep': {
        const p = sched.processes.get(f.target);
        return p ? clocks.get(p)?.step(f.amount ?? 0) : undefined;
      }
      case 'lagSpike': {
        const copy = clusters.get(f.other!)!.copy(f.target);
        copy.extraLagMs = f.amount ?? 0;
        return void later(() => (copy.extraLagMs = 0));
      }
      case 'storeOutage':
        storeDown.until = Math.max(storeDown.until, sched.now + f.durationMs);
        return;
      default:
        return;
    }
  };
  for (const f of plan.events) sched.at(f.at, () => apply(f), 'fault', undefined);

  // A rejection nobody handles kills a production process (runtime's runProcess exits 1 on it):
  // here it is a violation, and the process it happened in crashes and restarts a second later.
  const restartOf = (p: SimProcess): (() => void) | undefined => {
    if (p.id.startsWith('agent-')) return () => startAgent(p.id.slice('agent-'.length));
    if (coordIds.includes(p.id)) return () => startCoordinator(p.id);
    return undefined;
  };
  const dies = (what: string) => (e: unknown, p: SimProcess | undefined) => {
    checker.report(`no process dies of an ${what}`, `${p?.id ?? 'world'}: ${(e as Error)?.stack?.split('\n').slice(0, 4).join(' / ') ?? String(e)}`);
    const restart = p ? restartOf(p) : undefined;
    if (p && restart) crashFor(p, 1000, restart);
  };
  const onUnhandled = (e: unknown) => dies('unhandled rejection')(e, sched.current);
  sched.onUncaught = dies('uncaught exception');
  process.on('unhandledRejection', onUnhandled);
  const stopWith = await withVirtualGlobals(sched, clockOf, () =>
    sched.run({
      until: durationMs,
      maxSteps: 20_000_000,
      afterStep: (ev) => {
        trace.record(sched.now, ev.proc?.id ?? 'world', ev.label);
        checker.afterStep();
        return cfg.stopOnViolation && checker.violations.length > 0 ? 'violation' : undefined;
      },
    }),
  );
  process.off('unhandledRejection', onUnhandled);
  if (stopWith !== 'violation') checker.finish();
  void stopWith;
  const counts: Record<string, number> = {
    ...js.stats,
    netSent: net.sent,
    netDropped: net.dropped,
    kvOps: kv.ops,
    events: events.log.length,
    failovers: events.log.filter((e) => e.type === 'FailoverStarted').length,
    failoversCompleted: events.log.filter((e) => e.type === 'FailoverCompleted').length,
    clientWrites: [...clusters.values()].reduce((n, c) => n + c.writes, 0),
    // Liveness at the end (after the quiet tail with every fault healed): not judged, counted.
    endWithoutOneWritable: [...clusters.values()].filter((c) => c.writable().length !== 1).length,
    endEscalated: lastStates(events).filter((st) => st.startsWith('escalated')).length,
    ...checker.counts,
    watchdogFences: [...watchdogs.values()].reduce((n, w) => n + w.fences, 0),
    forgedResults: forgedCount,
  };
  return {
    seed: cfg.seed,
    hash: trace.digest(),
    violations: checker.violations,
    plan,
    simulatedMs: sched.now,
    wallMs: performance.now() - wall0,
    cpuMs: ((c) => (c.user + c.system) / 1000)(process.cpuUsage(cpu0)),
    steps: sched.steps,
    traceEntries: trace.count,
    tail: trace.tail(),
    estate: { sites: sites.length, coordinators: coordIds.length, workloads: workloadCount, synchronous },
    counts,
    ...(trace.all ? { full: { trace: trace.all, events: events.log } } : {}),
  };
}
