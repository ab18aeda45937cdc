import type { Decision, SiteView, WorkloadView } from '@drc/contracts';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics. Names and labels are a contract with deploy/grafana (a test checks
 * the dashboard queries only what is exported here). Gauges are computed from the live views
 * at scrape time; counters and histograms are fed by the decide-append-dispatch loop.
 */
export const METRIC_NAMES = [
  'drc_workload_state',
  'drc_workloads',
  'drc_workload_epoch',
  'drc_replication_lag_seconds',
  'drc_rpo_seconds',
  'drc_site_up',
  'drc_site_lease_remaining_seconds',
  'drc_failovers_total',
  'drc_rogue_primaries_total',
  'drc_failover_duration_seconds',
  'drc_decisions_total',
  'drc_dead_letters_total',
  'drc_agent_messages_total',
  'drc_event_store_append_seconds',
  'drc_leader',
  'drc_event_loop_delay_seconds',
] as const;

/**
 * What the scrape-time gauges read, and nothing more: the live views and whether this process
 * leads. The coordinator satisfies it as it is; a simulator or a test can hand in plain data.
 * (Metrics import nothing of the coordinator, so the two do not import each other.)
 */
export interface MetricsSource {
  workloadViews(): ReadonlyArray<MetricsWorkloadView>;
  siteViews(): ReadonlyArray<Pick<SiteView, 'siteId' | 'status' | 'leaseExpiresAt'>>;
  readonly isLeader: boolean;
}

/** The part of a workload view the gauges read. */
export type MetricsWorkloadView = Pick<WorkloadView, 'workloadId' | 'state' | 'epoch' | 'primarySite'> & {
  replicas: ReadonlyArray<Pick<WorkloadView['replicas'][number], 'siteId' | 'lagSeconds'>>;
  policy: Pick<WorkloadView['policy'], 'rpoSeconds'>;
};

export interface Metrics {
  registry: Registry;
  onAppended(workloadId: string, decisions: ReadonlyArray<Decision>, appendMs: number): void;
  onDeadLetter(): void;
  onAgentMessage(kind: string): void;
}

/** The process's event-loop delay (one monitor for the process, started by the first registry that asks). */
let loopDelay: IntervalHistogram | undefined;
function eventLoopDelay(): IntervalHistogram {
  if (!loopDelay) {
    loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
  }
  return loopDelay;
}

/**
 * Not pure (a registry, the process's event-loop monitor). `source` is asked at each scrape
 * (undefined: nothing to report yet); `now` dates lease remainders. Throws nothing.
 */
export function createMetrics(source: () => MetricsSource | undefined, now: () => number = Date.now): Metrics {
  const registry = new Registry();
  const views = () => source()?.workloadViews() ?? [];
  new Gauge({
    name: 'drc_workload_state', help: 'Current protection state of each workload (1 for the state it is in)', labelNames: ['workload', 'state'], registers: [registry],
    collect() { this.reset(); for (const w of views()) this.set({ workload: w.workloadId, state: w.state }, 1); },
  });
  new Gauge({
    name: 'drc_workloads', help: 'Number of workloads in each protection state', labelNames: ['state'], registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const w of views()) counts.set(w.state, (counts.get(w.state) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'drc_workload_epoch', help: 'Epoch (fencing token) of each workload', labelNames: ['workload'], registers: [registry],
    collect() { this.reset(); for (const w of views()) this.set({ workload: w.workloadId }, w.epoch); },
  });
  new Gauge({
    name: 'drc_replication_lag_seconds', help: 'Replication lag of each replica as last recorded', labelNames: ['workload', 'site'], registers: [registry],
    collect() {
      this.reset();
      for (const w of views()) for (const r of w.replicas) if (r.siteId !== w.primarySite && r.lagSeconds !== undefined) this.set({ workload: w.workloadId, site: r.siteId }, r.lagSeconds);
    },
  });
  new Gauge({
    name: 'drc_rpo_seconds', help: 'Recovery point objective of each workload', labelNames: ['workload'], registers: [registry],
    collect() { this.reset(); for (const w of views()) this.set({ workload: w.workloadId }, w.policy.rpoSeconds); },
  });
  new Gauge({
    name: 'drc_site_up', help: '1 when the site holds a current lease, 0 otherwise', labelNames: ['site'], registers: [registry],
    collect() { this.reset(); for (const s of source()?.siteViews() ?? []) this.set({ site: s.siteId }, s.status === 'up' ? 1 : 0); },
  });
  new Gauge({
    name: 'drc_site_lease_remaining_seconds', help: 'Time left on each site agent lease (negative: expired)', labelNames: ['site'], registers: [registry],
    collect() {
      this.reset();
      const t = now();
      for (const s of source()?.siteViews() ?? []) if (s.leaseExpiresAt !== undefined) this.set({ site: s.siteId }, (s.leaseExpiresAt - t) / 1000);
    },
  });
  new Gauge({
    name: 'drc_leader', help: '1 when this coordinator is the leader', registers: [registry],
    collect() { this.set(source()?.isLeader ? 1 : 0); },
  });
  const delay = eventLoopDelay();
  // Work that holds the event loop delays everything behind it, lease renewal included (a
  // coordinator starved by its own startup lost its lease): the delays since the last scrape.
  new Gauge({
    name: 'drc_event_loop_delay_seconds', help: 'Event-loop delay since the previous scrape (stat: p50, p99, max)', labelNames: ['stat'], registers: [registry],
    collect() {
      this.reset();
      if (delay.count > 0) {
        this.set({ stat: 'p50' }, delay.percentile(50) / 1e9);
        this.set({ stat: 'p99' }, delay.percentile(99) / 1e9);
        this.set({ stat: 'max' }, delay.max / 1e9);
      }
      delay.reset();
    },
  });
  const failovers = new Counter({ name: 'drc_failovers_total', help: 'Completed failovers and switchovers', labelNames: ['workload', 'mode'], registers: [registry] });
  const failoverDuration = new Histogram({
    name: 'drc_failover_duration_seconds', help: 'Failover duration from detection to completion (RTO)', registers: [registry],
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
  });
  const roguePrimaries = new Counter({ name: 'drc_rogue_primaries_total', help: 'Copies found writable without being the primary at the current epoch (each one fenced at once)', labelNames: ['workload', 'site'], registers: [registry] });
  const decisionsTotal = new Counter({ name: 'drc_decisions_total', help: 'Decisions recorded, by type', labelNames: ['type'], registers: [registry] });
  const deadLetters = new Counter({ name: 'drc_dead_letters_total', help: 'Agent messages rejected and dead-lettered', registers: [registry] });
  const agentMessages = new Counter({ name: 'drc_agent_messages_total', help: 'Agent messages received, by kind', labelNames: ['kind'], registers: [registry] });
  const appendSeconds = new Histogram({
    name: 'drc_event_store_append_seconds', help: 'Latency of event-store appends', registers: [registry],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  return {
    registry,
    onAppended(workloadId, decisions, appendMs) {
      appendSeconds.observe(appendMs / 1000);
      for (const d of decisions) {
        decisionsTotal.inc({ type: d.type });
        if (d.type === 'FailoverCompleted') {
          failovers.inc({ workload: workloadId, mode: 'unplanned' });
          failoverDuration.observe(d.rtoMs / 1000);
        } else if (d.type === 'RoguePrimaryDetected') roguePrimaries.inc({ workload: workloadId, site: d.siteId });
      }
    },
    onDeadLetter: () => deadLetters.inc(),
    onAgentMessage: (kind) => agentMessages.inc({ kind }),
  };
}
