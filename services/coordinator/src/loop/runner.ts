import { workloadStream, type Command, type Decision, type WorkloadInput, type WorkloadSetup, type WorkloadView } from '@drc/contracts';
import { isWrongExpectedVersionError, type EventStore } from '@drc/event-store';
import { decideWorkload, persistWorkload, restoreWorkload, startWorkload, stateOf, STATECHART_VERSION, viewWorkload, type Effect, type WorkloadSnapshot } from '@drc/statecharts';
import { traceIdOf, withDecisionSpan, type Logger } from '@drc/runtime';
import { context, trace, type Tracer } from '@opentelemetry/api';
import { eventsForStep, registrationEvent, type Origin, type Writer } from '@drc/history';
import { foldWorkloadStream, foldWorkloadTail, settle, type PendingCommand, type PendingTimer } from '@drc/history';

/** This coordinator is not (or no longer) the leader: it must not append or dispatch. */
export class NotLeaderError extends Error {
  readonly code = 'NOT_LEADER' as const;
  readonly retryable = false;
  constructor(workloadId: string) {
    super(`not the leader: input for ${workloadId} not processed`);
    this.name = 'NotLeaderError';
  }
}

/** What one processed input decided (returned to whoever submitted it). */
export interface StepOutcome {
  decisions: Decision[];
  stateBefore: string;
  stateAfter: string;
  view: WorkloadView;
  /** Stream version after the append. */
  version: number;
}

export interface RunnerDeps {
  store: EventStore;
  writer: Writer;
  logger: Logger;
  /** The runtime's clock; inputs record it as `at`. */
  now: () => number;
  /** Sends a command to its site's agent (after the decision was appended). */
  dispatch: (command: Command) => Promise<void>;
  /** Called after every appended step with the new view. */
  onChange?: (view: WorkloadView) => void;
  /** Called after every append with the decisions it recorded and how long the append took. */
  onAppended?: (workloadId: string, decisions: ReadonlyArray<Decision>, appendMs: number, input: WorkloadInput) => void;
  /** Spans for decisions (a no-op tracer when absent). */
  tracer?: Tracer;
  /** False when this coordinator may not act (not the leader): nothing is appended or sent. */
  canAct?: () => boolean;
  /** Save a snapshot after this many events (rehydration then reads only the tail). 0: never. */
  snapshotEvery?: number;
  /** Limits how many appends run at once across workloads. */
  gate?: <T>(fn: () => Promise<T>) => Promise<T>;
}

/**
 * One protected workload: its inputs are processed one at a time, in order. For each input:
 * decide (pure statechart) → append the input and the decisions with the expected version →
 * only then dispatch commands and arm timers. A crash between append and dispatch is repaired
 * by `start()`, which re-dispatches commands without a result and re-arms pending timers.
 */
export class WorkloadRunner {
  private snapshot!: WorkloadSnapshot;
  private version = 0;
  private timers = new Map<string, PendingTimer>();
  private handles = new Map<string, NodeJS.Timeout>();
  private commands = new Map<string, PendingCommand>();
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private sinceSnapshot = 0;
  readonly stream: string;

  constructor(
    readonly workloadId: string,
    private readonly deps: RunnerDeps,
  ) {
    this.stream = workloadStream(workloadId);
  }

  /** True while a command was issued and its result has not been recorded. */
  hasPendingCommand(commandId: string): boolean {
    return this.commands.has(commandId);
  }

  get view(): WorkloadView {
    return viewWorkload(this.snapshot);
  }

  get state(): string {
    return stateOf(this.snapshot);
  }

  /** Rehydrates from the store (registering the workload if its stream is new) and re-arms pending effects. */
  async start(setup: Omit<WorkloadSetup, 'at'>): Promise<void> {
    await this.rehydrate(setup);
    for (const t of this.timers.values()) this.arm(t);
    for (const c of this.commands.values()) await this.send(c);
  }

  private async rehydrate(setup?: Omit<WorkloadSetup, 'at'>): Promise<void> {
    const fromSnapshot = await this.fromSnapshot();
    if (fromSnapshot) return;
    const events = await this.deps.store.readStream(this.stream);
    if (events.length === 0) {
      if (!setup) throw new Error(`stream ${this.stream} vanished`);
      const full: WorkloadSetup = { ...setup, at: this.deps.now() };
      const start = startWorkload(full);
      try {
        const r = await this.deps.store.append(this.stream, [registrationEvent(this.deps.writer, full, stateOf(start.snapshot))], { expectedVersion: 0 });
        this.snapshot = start.snapshot;
        this.version = r.nextExpectedVersion;
        return;
      } catch (e) {
        if (!isWrongExpectedVersionError(e)) throw e;
        return this.rehydrate(setup); // someone registered it first: fold theirs
      }
    }
    const folded = foldWorkloadStream(events);
    this.snapshot = folded.snapshot;
    this.version = folded.version;
    this.timers = folded.timers;
    this.commands = folded.commands;
  }

  /** Rehydrates from the newest snapshot plus the stream's tail; false when there is no usable snapshot. */
  private async fromSnapshot(): Promise<boolean> {
    const snap = await this.deps.store.loadSnapshot(this.stream).catch(() => undefined);
    if (!snap || snap.schema !== STATECHART_VERSION) return false; // another machine version: fold it all
    const state = snap.state as { machine: unknown; timers: PendingTimer[]; commands: PendingCommand[] };
    const tail = await this.deps.store.readStream(this.stream, { fromPosition: snap.version + 1 });
    const folded = foldWorkloadTail(
      {
        snapshot: restoreWorkload(state.machine),
        version: snap.version,
        timers: new Map(state.timers.map((t) => [t.timerId, t])),
        commands: new Map(state.commands.map((c) => [c.request.commandId, c])),
      },
      tail,
    );
    this.snapshot = folded.snapshot;
    this.version = folded.version;
    this.timers = folded.timers;
    this.commands = folded.commands;
    return true;
  }

  /** Saves a snapshot now and then; a failure costs only a longer rehydration later. */
  private maybeSnapshot(appended: number): void {
    const every = this.deps.snapshotEvery ?? 500;
    this.sinceSnapshot += appended;
    if (every <= 0 || this.sinceSnapshot < every) return;
    this.sinceSnapshot = 0;
    const state = { machine: persistWorkload(this.snapshot), timers: [...this.timers.values()], commands: [...this.commands.values()] };
    this.deps.store
      .saveSnapshot({ stream: this.stream, version: this.version, state, schema: STATECHART_VERSION })
      .catch((e: unknown) => this.deps.logger.warn({ err: e, workloadId: this.workloadId }, 'snapshot not saved'));
  }

  /** Queues an input; resolves when it has been appended and its effects dispatched. */
  submit(input: WorkloadInput, origin: Origin): Promise<StepOutcome | undefined> {
    const run = this.queue.then(() => this.process(input, origin));
    this.queue = run.then(
      () => undefined,
      (e: unknown) => {
        this.deps.logger.error({ err: e, workloadId: this.workloadId, input: input.type }, 'input processing failed');
      },
    );
    return run;
  }

  /** Resolves when every input submitted so far has been processed. */
  idle(): Promise<void> {
    return this.queue;
  }

  stop(): void {
    this.stopped = true;
    for (const h of this.handles.values()) clearTimeout(h);
    this.handles.clear();
  }

  private process(input: WorkloadInput, origin: Origin, attempt = 0): Promise<StepOutcome | undefined> {
    const tracer = this.deps.tracer ?? trace.getTracer('drc-coordinator');
    return withDecisionSpan(tracer, { workloadId: this.workloadId, inputType: input.type, stateBefore: stateOf(this.snapshot) }, () => {
      const traceId = traceIdOf(context.active());
      return this.step(input, traceId && !origin.traceId ? { ...origin, traceId } : origin, attempt);
    });
  }

  private async step(input: WorkloadInput, origin: Origin, attempt = 0): Promise<StepOutcome | undefined> {
    if (this.stopped) return undefined;
    if (this.deps.canAct && !this.deps.canAct()) throw new NotLeaderError(this.workloadId);
    const before = stateOf(this.snapshot);
    const step = decideWorkload(this.snapshot, input);
    const after = stateOf(step.snapshot);
    const decisions = step.effects.flatMap((e) => (e.kind === 'decision' ? [e.decision] : []));
    const view = viewWorkload(step.snapshot);
    const events = eventsForStep({
      writer: this.deps.writer,
      origin,
      input,
      decisions,
      timers: step.effects.flatMap((e): Array<{ kind: 'schedule'; timerId: string; delayMs: number } | { kind: 'cancel'; timerId: string }> =>
        e.kind === 'schedule' ? [{ kind: 'schedule' as const, timerId: e.timerId, delayMs: e.delayMs }] : e.kind === 'cancel' ? [{ kind: 'cancel' as const, timerId: e.timerId }] : [],
      ),
      stateBefore: before,
      stateAfter: after,
      epoch: view.epoch,
      primarySite: view.primarySite,
    });
    try {
      const append = () => this.deps.store.append(this.stream, events, { expectedVersion: this.version });
      const t0 = performance.now();
      const r = await this.appendWithRetry(append);
      this.version = r.nextExpectedVersion;
      this.deps.onAppended?.(this.workloadId, decisions, performance.now() - t0, input);
    } catch (e) {
      if (isWrongExpectedVersionError(e) && attempt < 3) {
        // Another writer appended: take its history as truth and decide this input again on top of it.
        this.deps.logger.warn({ workloadId: this.workloadId, err: e }, 'stream moved under us; rehydrating');
        this.stop();
        this.stopped = false;
        await this.rehydrate();
        for (const t of this.timers.values()) this.arm(t);
        return this.step(input, origin, attempt + 1);
      }
      throw e;
    }
    this.snapshot = step.snapshot;
    settle({ timers: this.timers, commands: this.commands }, input, step.effects);
    this.maybeSnapshot(events.length);
    await this.carryOut(input, step.effects);
    if (before !== after) {
      this.deps.logger.info({ workloadId: this.workloadId, from: before, to: after, epoch: view.epoch, primarySite: view.primarySite, correlationId: events[0]?.metadata.correlationId }, 'workload state changed');
    }
    this.deps.onChange?.(view);
    return { decisions, stateBefore: before, stateAfter: after, view, version: this.version };
  }

  private async appendWithRetry<T>(fn: () => Promise<T>): Promise<T> {
    const gate = this.deps.gate ?? ((f: () => Promise<T>) => f());
    for (let i = 0; ; i++) {
      try {
        return await gate(fn);
      } catch (e) {
        const retryable = typeof e === 'object' && e !== null && (e as { retryable?: unknown }).retryable === true;
        if (!retryable || this.stopped) throw e;
        if (this.deps.canAct && !this.deps.canAct()) throw new NotLeaderError(this.workloadId);
        const delay = Math.min(2000, 50 * 2 ** i);
        this.deps.logger.warn({ workloadId: this.workloadId, err: e, retryInMs: delay }, 'event store unavailable; retrying append');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async carryOut(input: WorkloadInput, effects: ReadonlyArray<Effect>): Promise<void> {
    for (const e of effects) {
      if (e.kind === 'cancel') {
        const h = this.handles.get(e.timerId);
        if (h) clearTimeout(h);
        this.handles.delete(e.timerId);
      } else if (e.kind === 'schedule') {
        this.arm({ timerId: e.timerId, event: e.event, dueAt: input.at + e.delayMs });
      } else if (e.decision.type === 'CommandIssued') {
        const pending = this.commands.get(e.decision.command.commandId);
        if (pending) await this.send(pending);
      }
    }
  }

  private arm(t: PendingTimer): void {
    const old = this.handles.get(t.timerId);
    if (old) clearTimeout(old);
    const delay = Math.max(0, t.dueAt - this.deps.now());
    const h = setTimeout(() => {
      this.handles.delete(t.timerId);
      if (!this.timers.has(t.timerId)) return;
      void this.submit({ type: 'TIMER_FIRED', at: this.deps.now(), timerId: t.timerId, event: t.event }, { actor: { kind: 'system', id: 'timer' } });
    }, delay);
    h.unref?.();
    this.handles.set(t.timerId, h);
  }

  private async send(c: PendingCommand): Promise<void> {
    const cmd: Command = {
      kind: 'command',
      v: 1,
      commandId: c.request.commandId,
      workloadId: this.workloadId,
      siteId: c.request.siteId,
      action: c.request.action,
      epoch: c.request.epoch,
      issuedAt: c.issuedAt,
      deadline: c.issuedAt + c.request.timeoutMs,
      coordinatorId: this.deps.writer.coordinatorId,
      leaderEpoch: this.deps.writer.leaderEpoch,
      params: c.request.params,
    };
    try {
      await this.deps.dispatch(cmd);
    } catch (e) {
      // The decision is recorded; a failed send is retried on restart and covered by the step's timeout.
      this.deps.logger.error({ err: e, workloadId: this.workloadId, commandId: cmd.commandId }, 'command dispatch failed');
    }
  }
}
