import { randomBytes } from 'node:crypto';
import {
  INPUT_EVENT_TYPES,
  PLAN_RUN_STREAM_PREFIX,
  planRunStream,
  workloadStream,
  type Actor,
  type Decision,
  type DrcConfig,
  type OperatorCommandName,
  type PlanConfig,
  type PlanDecision,
  type PlanMode,
  type PlanRunInput,
  type PlanRunSetup,
  type PlanRunView,
  type PlanStep,
  type WorkloadInput,
  type WorkloadView,
} from '@drc/contracts';
import type { EventStore } from '@drc/event-store';
import { foldPlanRunStream, planEventsForInput, planRunOpeningEvents, type Origin, type Writer } from '@drc/history';
import { systemClock, type Clock, type Logger, type Random } from '@drc/runtime';
import { compilePlan, decidePlanRun, startPlanRun, viewPlanRun, type PlanRunSnapshot } from '@drc/statecharts';
import { NotLeaderError, UnknownPlanError, UnknownPlanRunError } from '../errors';
import { runHook } from './hooks';
import type { Notifier } from './notifier';
import { PLAN_RUN_STREAM_RETRY, runStreamStep } from '../loop/stream-loop';
import { alreadyThere, workloadStepOutcome } from './workload-step';

/** What the plan manager needs from the coordinator. */
export interface PlanHost {
  operatorCommand(args: { workloadId: string; command: OperatorCommandName; actor: Actor; requestId: string; targetSite?: string; reason?: string }): Promise<{ accepted: boolean; reason?: string }>;
  workloadView(id: string): WorkloadView | undefined;
  canAct(): boolean;
}

export interface PlanManagerDeps {
  config: DrcConfig;
  store: EventStore;
  writer: Writer;
  logger: Logger;
  now: () => number;
  host: PlanHost;
  notifier?: Notifier;
  /** How often wait-for conditions are checked (ms). */
  pollMs?: number;
  /** Timers (the OS's when absent). */
  clock?: Clock;
  /** Run id suffixes (crypto's when absent). */
  random?: Random;
}

/** A plan input refused by the run's statechart (wrong state, unknown step…): HTTP 409. */
export class PlanInputRejectedError extends Error {
  readonly code = 'PLAN_INPUT_REJECTED' as const;
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'PlanInputRejectedError';
  }
}

interface Watch {
  runId: string;
  stepId: string;
  attempt: number;
  command: OperatorCommandName;
  requestId: string;
  /** The workload has recorded our command: what follows counts. */
  seen: boolean;
}

/** One run: its inputs processed one at a time; decide → append → then act. */
class PlanRun {
  queue: Promise<unknown> = Promise.resolve();
  stopped = false;
  constructor(
    readonly runId: string,
    public snapshot: PlanRunSnapshot,
    public version: number,
  ) {}
  get view(): PlanRunView {
    return viewPlanRun(this.snapshot);
  }
  step(id: string): PlanStep | undefined {
    return this.snapshot.context.setup.steps.find((s) => s.id === id);
  }
}

const SYSTEM: Actor = { kind: 'system', id: 'plan-executor' };

/**
 * Runs recovery plans: each run is a plan-run statechart whose inputs and decisions go to its
 * own stream before anything is done (append before dispatch, as for workloads). Workload
 * steps become operator commands to the workloads (request id = run/step/attempt, so a
 * restarted coordinator finds what it already asked and never asks twice); hooks run on this
 * host; wait-for steps poll the workloads' views; approvals wait for an operator.
 */
export class PlanManager {
  private readonly runs = new Map<string, PlanRun>();
  private readonly watches = new Map<string, Watch[]>();
  private readonly aborts = new Set<AbortController>();
  private active = false;

  constructor(private readonly deps: PlanManagerDeps) {}

  plans(): PlanConfig[] {
    return this.deps.config.plans;
  }

  plan(name: string): PlanConfig | undefined {
    return this.deps.config.plans.find((p) => p.name === name);
  }

  /** Pure wrt the store. The steps a run of `plan` in `mode` would have. */
  compile(plan: PlanConfig, mode: PlanMode, startApproval?: string) {
    return compilePlan(plan, mode, this.deps.config.workloads, startApproval ? { startApproval } : {});
  }

  views(): PlanRunView[] {
    return [...this.runs.values()].map((r) => r.view).sort((a, b) => b.startedAt - a.startedAt);
  }

  view(runId: string): PlanRunView | undefined {
    return this.runs.get(runId)?.view;
  }

  /** Becomes active (this coordinator leads): loads every run, resumes the unfinished ones where they were. */
  async activate(): Promise<void> {
    this.active = true;
    const streams = await this.deps.store.listStreams(PLAN_RUN_STREAM_PREFIX);
    for (const stream of streams) {
      const events = await this.deps.store.readStream(stream);
      const folded = foldPlanRunStream(events);
      if (!folded) continue;
      const run = new PlanRun(folded.snapshot.context.setup.runId, folded.snapshot, folded.version);
      this.runs.set(run.runId, run);
    }
    // Workload steps are checked against the workloads' streams before agent messages flow
    // again (the caller awaits this), so no completion can slip between the read and the watch.
    const checks: Array<Promise<void>> = [];
    for (const run of this.runs.values()) {
      if (run.view.state === 'finished') continue;
      this.deps.logger.info({ runId: run.runId, plan: run.view.plan, state: run.view.state }, 'resuming plan run');
      for (const s of run.view.steps) {
        if (s.status !== 'running') continue;
        const p = this.execute(run, s.id, s.attempt, true);
        if (s.kind === 'workload') checks.push(p);
      }
    }
    await Promise.all(checks);
  }

  /** Stops acting (no longer the leader): in-flight hooks and polls are abandoned, nothing is appended. */
  deactivate(): void {
    this.active = false;
    for (const a of this.aborts) a.abort();
    this.aborts.clear();
    for (const r of this.runs.values()) r.stopped = true;
    this.runs.clear();
    this.watches.clear();
  }

  /** Starts a run of a plan. Throws for an unknown plan. */
  async startRun(args: { plan: string; mode: PlanMode; actor: Actor; reason?: string; startApproval?: string; runId?: string }): Promise<PlanRunView> {
    const plan = this.plan(args.plan);
    if (!plan) throw new UnknownPlanError(args.plan);
    if (!this.active) throw new NotLeaderError('plan runs start on the leading coordinator');
    const compiled = this.compile(plan, args.mode, args.startApproval);
    const at = this.deps.now();
    const runId = args.runId ?? `${plan.name.slice(0, 36)}-${at.toString(36)}-${this.deps.random ? this.deps.random.uuid().slice(0, 6) : randomBytes(3).toString('hex')}`;
    const setup: PlanRunSetup = { runId, plan: plan.name, mode: args.mode, at, actor: args.actor, ...(args.reason ? { reason: args.reason } : {}), concurrency: compiled.concurrency, steps: compiled.steps };
    const started = startPlanRun(setup);
    const origin: Origin = { actor: args.actor, correlationId: `plan:${runId}` };
    const events = planRunOpeningEvents(this.deps.writer, origin, setup, started.decisions, String(started.snapshot.value));
    const r = await this.deps.store.append(planRunStream(runId), events, { expectedVersion: 'no_stream' });
    const run = new PlanRun(runId, started.snapshot, r.nextExpectedVersion);
    this.runs.set(runId, run);
    this.deps.logger.info({ runId, plan: plan.name, mode: args.mode, actor: args.actor, steps: setup.steps.length }, 'plan run started');
    this.deps.notifier?.notify('plan.started', { runId, plan: plan.name, mode: args.mode, actor: args.actor, reason: args.reason ?? null }, at);
    this.dispatch(run, started.decisions);
    return run.view;
  }

  /** Feeds an operator's or an executor's input to a run. Throws PlanInputRejectedError when the run refuses it. */
  async input(runId: string, input: PlanRunInput, origin: Origin): Promise<PlanRunView> {
    const run = this.runs.get(runId);
    if (!run) throw new UnknownPlanRunError(runId);
    const decisions = await this.process(run, input, origin);
    const rejected = decisions.find((d) => d.type === 'PlanInputRejected');
    if (rejected && rejected.type === 'PlanInputRejected') throw new PlanInputRejectedError(rejected.reason);
    return run.view;
  }

  private process(run: PlanRun, input: PlanRunInput, origin: Origin): Promise<PlanDecision[]> {
    // The same stream loop as workload streams, under the plan-run policy: a conflict means
    // another coordinator writes this run (we are not the leader any more), so the run stops here.
    const p = run.queue.then(() =>
      runStreamStep<ReturnType<typeof decidePlanRun>, PlanDecision[]>({
        store: this.deps.store,
        stream: planRunStream(run.runId),
        policy: PLAN_RUN_STREAM_RETRY,
        clock: this.deps.clock ?? systemClock,
        version: () => run.version,
        precheck: () => {
          if (run.stopped || !this.active || !this.deps.host.canAct()) throw new NotLeaderError(`plan run ${run.runId} input not processed`);
          return undefined;
        },
        decide: () => decidePlanRun(run.snapshot, input),
        events: (step) => planEventsForInput(this.deps.writer, origin, input, step.decisions, String(step.snapshot.value)),
        onStop: (e) => {
          run.stopped = true;
          this.deps.logger.error({ runId: run.runId, err: e }, 'plan run stream moved under us: stopping it here');
        },
        commit: (step, nextVersion) => {
          run.version = nextVersion;
          run.snapshot = step.snapshot;
        },
        dispatch: (step) => {
          this.dispatch(run, step.decisions);
          return step.decisions;
        },
      }),
    );
    run.queue = p.catch(() => undefined);
    return p;
  }

  /** Acts on recorded decisions (never before they are appended). */
  private dispatch(run: PlanRun, decisions: ReadonlyArray<PlanDecision>): void {
    for (const d of decisions) {
      if (d.type === 'StepStarted') void this.execute(run, d.stepId, d.attempt, false);
      else if (d.type === 'StepAwaitingApproval') {
        this.deps.notifier?.notify('approval.required', { runId: run.runId, plan: run.view.plan, stepId: d.stepId, message: d.message });
      } else if (d.type === 'PlanRunFinished') {
        const v = run.view;
        this.deps.logger.info({ runId: run.runId, plan: v.plan, result: d.result }, 'plan run finished');
        this.deps.notifier?.notify('plan.finished', { runId: run.runId, plan: v.plan, mode: v.mode, result: d.result });
      }
    }
  }

  private result(run: PlanRun, stepId: string, attempt: number, o: { status: 'done' | 'failed'; reason?: string | undefined; output?: Record<string, unknown> | undefined }): void {
    if (run.stopped) return;
    const input: PlanRunInput = { type: 'STEP_RESULT', at: this.deps.now(), stepId, attempt, status: o.status, ...(o.reason !== undefined ? { reason: o.reason } : {}), ...(o.output ? { output: o.output } : {}) };
    this.process(run, input, { actor: SYSTEM, correlationId: `plan:${run.runId}:${stepId}:${attempt}` }).catch((e: unknown) => {
      this.deps.logger.warn({ runId: run.runId, stepId, err: e }, 'plan step result not recorded');
    });
  }

  private async execute(run: PlanRun, stepId: string, attempt: number, resuming: boolean): Promise<void> {
    const step = run.step(stepId);
    if (!step) return;
    const log = this.deps.logger.child({ runId: run.runId, stepId, attempt });
    try {
      switch (step.kind) {
        case 'workload':
          return await this.executeWorkload(run, step, attempt, resuming);
        case 'hook': {
          const ac = this.abortable();
          const context = { plan: run.view.plan, run: run.runId, step: stepId, mode: run.view.mode, workload: step.workloadId ?? '', attempt: String(attempt) };
          const o = await runHook(step.hook!, context, ac.signal).finally(() => this.aborts.delete(ac));
          if (ac.signal.aborted) return;
          log.info({ ok: o.ok, reason: o.reason }, 'plan hook ended');
          return this.result(run, stepId, attempt, { status: o.ok ? 'done' : 'failed', reason: o.reason, output: o.output });
        }
        case 'waitFor':
          return await this.executeWaitFor(run, step, attempt);
        case 'approval':
          return; // waits for an operator
      }
    } catch (e) {
      log.error({ err: e }, 'plan step failed to execute');
      this.result(run, stepId, attempt, { status: 'failed', reason: `could not execute: ${(e as Error).message}` });
    }
  }

  private abortable(): AbortController {
    const ac = new AbortController();
    this.aborts.add(ac);
    return ac;
  }

  private async executeWaitFor(run: PlanRun, step: PlanStep, attempt: number): Promise<void> {
    const w = step.waitFor!;
    const ac = this.abortable();
    const deadline = this.deps.now() + w.timeoutMs;
    const lagOf = () =>
      Object.fromEntries(
        w.workloads.map((id) => {
          const v = this.deps.host.workloadView(id);
          const lags = (v?.replicas ?? []).filter((r) => r.siteId !== v?.primarySite && r.healthy).map((r) => r.lagSeconds ?? Infinity);
          return [id, lags.length ? Math.max(...lags) : Infinity];
        }),
      );
    try {
      while (!ac.signal.aborted) {
        const lags = lagOf();
        if (Object.values(lags).every((l) => l <= w.replicaLagBelowSeconds)) return this.result(run, step.id, attempt, { status: 'done', output: { lagSeconds: lags } });
        if (this.deps.now() >= deadline) {
          const behind = Object.entries(lags).filter(([, l]) => l > w.replicaLagBelowSeconds).map(([id, l]) => `${id} (${Number.isFinite(l) ? `${l} s` : 'no healthy replica'})`);
          return this.result(run, step.id, attempt, { status: 'failed', reason: `timed out after ${w.timeoutMs} ms: ${behind.join(', ')} above ${w.replicaLagBelowSeconds} s` });
        }
        await (this.deps.clock ?? systemClock).sleep(this.deps.pollMs ?? 500);
      }
    } finally {
      this.aborts.delete(ac);
    }
  }

  private async executeWorkload(run: PlanRun, step: PlanStep, attempt: number, resuming: boolean): Promise<void> {
    const workloadId = step.workloadId!;
    const command = step.command!;
    const requestId = `plan:${run.runId}:${step.id}:${attempt}`;
    const watch: Watch = { runId: run.runId, stepId: step.id, attempt, command, requestId, seen: false };
    const list = this.watches.get(workloadId) ?? [];
    list.push(watch);
    this.watches.set(workloadId, list);
    const finish = (o: { status: 'done' | 'failed'; reason?: string; output?: Record<string, unknown> }) => {
      this.unwatch(workloadId, watch);
      this.result(run, step.id, attempt, o);
    };
    if (resuming) {
      // Asked before the restart? Then never ask again: find out what became of it.
      const found = await this.findRequest(workloadId, requestId, command);
      if (found.outcome) return finish(found.outcome);
      if (found.seen) {
        watch.seen = true;
        return;
      }
    }
    const r = await this.deps.host.operatorCommand({
      workloadId, command, requestId, actor: { kind: 'system', id: `plan:${run.runId}` },
      ...(step.targetSite ? { targetSite: step.targetSite } : {}),
      reason: `recovery plan ${run.view.plan} (${run.view.mode}), step ${step.id}`,
    });
    if (r.accepted) {
      watch.seen = true;
      return;
    }
    const view = this.deps.host.workloadView(workloadId);
    const there = view ? alreadyThere(command, view, step.targetSite) : undefined;
    if (there === 'watch') {
      watch.seen = true; // a move already under way (e.g. automatic failover): its end is ours
      return;
    }
    if (there === 'done') return finish({ status: 'done', output: { alreadyDone: true, state: view!.state, primarySite: view!.primarySite, note: r.reason ?? '' } });
    finish({ status: 'failed', reason: `${workloadId} refused ${command}: ${r.reason ?? 'rejected'}` });
  }

  private unwatch(workloadId: string, w: Watch): void {
    const list = (this.watches.get(workloadId) ?? []).filter((x) => x !== w);
    if (list.length) this.watches.set(workloadId, list);
    else this.watches.delete(workloadId);
  }

  /** Reads a workload's stream for a plan request: was it recorded, and has it ended? */
  private async findRequest(workloadId: string, requestId: string, command: OperatorCommandName): Promise<{ seen: boolean; outcome?: { status: 'done' | 'failed'; reason?: string; output?: Record<string, unknown> } }> {
    const events = await this.deps.store.readStream(workloadStream(workloadId));
    const inputTypes = new Set<string>(Object.values(INPUT_EVENT_TYPES));
    let seen = false;
    let input: WorkloadInput | undefined;
    let decisions: Decision[] = [];
    const check = () => (seen && input ? workloadStepOutcome(command, input, decisions) : undefined);
    for (const e of events) {
      if (inputTypes.has(e.type)) {
        const o = check();
        if (o) return { seen, outcome: o };
        input = e.data as WorkloadInput;
        decisions = [];
        if (input.type === 'OPERATOR_COMMAND' && input.requestId === requestId) seen = true;
      } else if (seen) {
        const d = e.data as Decision;
        decisions.push(d);
        if (d.type === 'OperatorCommandRejected' && d.requestId === requestId) return { seen: false };
      }
    }
    const o = check();
    return o ? { seen, outcome: o } : { seen };
  }

  /** Called by the coordinator after every appended workload step. */
  onWorkloadStep(workloadId: string, input: WorkloadInput, decisions: ReadonlyArray<Decision>): void {
    const list = this.watches.get(workloadId);
    if (!list) return;
    for (const w of [...list]) {
      if (input.type === 'OPERATOR_COMMAND' && input.requestId === w.requestId) {
        if (decisions.some((d) => d.type === 'OperatorCommandRejected' && d.requestId === w.requestId)) continue; // answered by executeWorkload
        w.seen = true;
      }
      if (!w.seen) continue;
      const o = workloadStepOutcome(w.command, input, decisions);
      if (!o) continue;
      const run = this.runs.get(w.runId);
      this.unwatch(workloadId, w);
      if (run) this.result(run, w.stepId, w.attempt, o);
    }
  }

  /**
   * A site was declared lost: start the plans bound to it (once per loss: not when a run of the
   * plan is unfinished, or started after the site's lease expired).
   */
  async onSiteLost(siteId: string, leaseExpiredAt: number | undefined): Promise<void> {
    if (!this.active) return;
    for (const plan of this.deps.config.plans) {
      if (plan.trigger?.siteLost !== siteId) continue;
      const runs = [...this.runs.values()].map((r) => r.view).filter((v) => v.plan === plan.name);
      if (runs.some((v) => v.state !== 'finished' || (leaseExpiredAt !== undefined && v.startedAt >= leaseExpiredAt))) continue;
      const reason = `site ${siteId} was declared lost`;
      await this.startRun({
        plan: plan.name,
        mode: 'failover',
        actor: { kind: 'coordinator', id: this.deps.writer.coordinatorId },
        reason,
        ...(plan.trigger.start === 'approval' ? { startApproval: `${reason}: start recovery plan ${plan.name}?` } : {}),
      }).catch((e: unknown) => this.deps.logger.error({ err: e, plan: plan.name, siteId }, 'site-loss plan did not start'));
    }
  }

  /** Resolves when every run has processed what was submitted so far. */
  async settled(): Promise<void> {
    await Promise.all([...this.runs.values()].map((r) => r.queue));
  }
}
