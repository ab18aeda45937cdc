import { effectivePolicy, type DrcConfig, type WorkloadInput, type WorkloadView } from '@drc/contracts';
import type { Clock } from '@drc/runtime';
import type { Origin } from '@drc/history';
import { UnknownWorkloadError } from '../errors';
import { createGate } from './gate';
import { WorkloadRunner, type RunnerDeps, type StepOutcome } from './runner';

/** Counts the set keeps for the coordinator's stats. */
export interface InputCount {
  inputs: number;
}

/**
 * The acting coordinator's workloads: one WorkloadRunner each, started together from the store
 * and stopped together when the lead is lost. Inputs reach a workload only through `submit`.
 */
export class WorkloadSet {
  private readonly runners = new Map<string, WorkloadRunner>();

  constructor(private readonly stats: InputCount) {}

  get size(): number {
    return this.runners.size;
  }

  has(id: string): boolean {
    return this.runners.has(id);
  }

  runner(id: string): WorkloadRunner | undefined {
    return this.runners.get(id);
  }

  all(): IterableIterator<WorkloadRunner> {
    return this.runners.values();
  }

  views(): WorkloadView[] {
    return [...this.runners.values()].filter((r) => r.rehydrated).map((r) => r.view);
  }

  view(id: string): WorkloadView | undefined {
    return this.runners.get(id)?.view;
  }

  /** Feeds one input to a workload's loop; rejects for a workload this coordinator does not run. */
  submit(workloadId: string, input: WorkloadInput, origin: Origin): Promise<StepOutcome | undefined> {
    const runner = this.runners.get(workloadId);
    if (!runner) return Promise.reject(new UnknownWorkloadError(workloadId));
    this.stats.inputs++;
    return runner.submit(input, origin);
  }

  /**
   * Stops any runners and starts one per configured workload, each rehydrated from the store (and
   * registered if its stream is new), its pending timers re-armed and pending commands re-sent.
   */
  async startAll(config: DrcConfig, deps: Omit<RunnerDeps, 'gate'>, clock: Clock): Promise<void> {
    const gate = createGate(config.coordinator.siteLossConcurrency);
    const priorities = new Map(config.sites.map((s) => [s.id, s]));
    this.stopAll();
    // As many at a time as the gate lets through, and each turn lets the event loop go when its
    // workload is done: started all at once, 10,000 workloads finish in bursts that hold the loop,
    // lease renewal included (the only coordinator of the scale benchmark lost its lease during
    // its startup, issue 17 item 7).
    const rehydrate = async (w: DrcConfig['workloads'][number]): Promise<void> => {
      const runner = new WorkloadRunner(w.id, { ...deps, gate });
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
        await clock.yield();
      }
    };
    await Promise.all(Array.from({ length: Math.min(config.coordinator.siteLossConcurrency, config.workloads.length) }, rehydrateInTurn));
  }

  /** Stops every runner (no more timers, appends or commands) and forgets them. */
  stopAll(): void {
    for (const r of this.runners.values()) r.stop();
    this.runners.clear();
  }

  /** Stops every runner but keeps them (their views stay readable). */
  stopKeeping(): void {
    for (const r of this.runners.values()) r.stop();
  }

  /** Resolves when every workload has processed what was submitted so far. */
  async idle(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.idle()));
  }
}
