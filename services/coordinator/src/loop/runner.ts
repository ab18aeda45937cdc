import { workloadStream, type Command, type CommandRequest, type Decision, type WorkloadInput, type WorkloadSetup, type WorkloadView } from '@drc/contracts';
import { isWrongExpectedVersionError, type EventStore, type NewEvent } from '@drc/event-store';
import { decideWorkload, persistWorkload, restoreWorkload, startWorkload, stateOf, STATECHART_VERSION, viewWorkload, type Effect, type WorkloadSnapshot } from '@drc/statecharts';
import { endDecisionSpan, startDecisionSpan, systemClock, traceIdOf, type Clock, type Logger, type TimerHandle } from '@drc/runtime';
import { context, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { eventsForStep, registrationEvent, type Origin, type Writer } from '@drc/history';
import { foldWorkloadStream, foldWorkloadTail, settle, type PendingCommand, type PendingTimer } from '@drc/history';
import { NotLeaderError } from '../errors';
import { runStreamStep, WORKLOAD_STREAM_RETRY } from './stream-loop';
import { fencedSites, noteFenceEvent, persistFenceMarks, restoreFenceMarks, type FenceMarks, type PersistedFenceMarks } from './fence-marks';

/** A step decided in the same moment as the input that led to it (a timer due at once). */
interface ChainStep {
  input: WorkloadInput;
  origin: Origin;
  step: { snapshot: WorkloadSnapshot; effects: Effect[] };
  before: string;
  after: string;
  decisions: Decision[];
  /** The zero-delay schedule effect the next step in the chain fired (not armed). */
  consumed: Extract<Effect, { kind: 'schedule' }> | undefined;
}

/** An input waiting for its runner, with the trace context it was submitted in. */
interface Queued {
  input: WorkloadInput;
  origin: Origin;
  ctx: Context;
  resolve: (o: StepOutcome | undefined) => void;
  reject: (e: unknown) => void;
}

/** A batch decided but not yet appended: each input's span and chain, the events, the state after. */
interface DecidedBatch {
  decided: Array<{ q: Queued; span: Span; chain: ChainStep[] }>;
  events: NewEvent[];
  snapshot: WorkloadSnapshot;
}

/** Inputs decided together into one append at most (a bound on one transaction's size). */
const MAX_INPUTS_PER_APPEND = 64;

/** A step arms at most a handful of timers; the bound only guards against a machine that loops. */
const MAX_CHAINED_TIMERS = 8;

/** Pure. The first timer a step leaves armed with no delay, if any (one cancelled later in the same step is not). */
function dueAtOnce(effects: ReadonlyArray<Effect>): Extract<Effect, { kind: 'schedule' }> | undefined {
  for (let i = 0; i < effects.length; i++) {
    const e = effects[i]!;
    if (e.kind !== 'schedule' || e.delayMs > 0) continue;
    const cancelledLater = effects.slice(i + 1).some((x) => (x.kind === 'cancel' || x.kind === 'schedule') && x.timerId === e.timerId);
    if (!cancelledLater) return e;
  }
  return undefined;
}

// NotLeaderError lives with the coordinator's other typed errors; exported here as before.
export { NotLeaderError };

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
  /** Timers (armed statechart timers, append retries) and durations; the OS's when absent. */
  clock?: Clock;
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
  private handles = new Map<string, TimerHandle>();
  private commands = new Map<string, PendingCommand>();
  /** Sites with a fence pending or done (kept from the same events the stream holds). */
  private fences: FenceMarks = new Map();
  private pending: Queued[] = [];
  private draining: Promise<void> | undefined;
  private stopped = false;
  private sinceSnapshot = 0;
  readonly stream: string;

  constructor(
    readonly workloadId: string,
    private readonly deps: RunnerDeps,
  ) {
    this.stream = workloadStream(workloadId);
    this.clock = deps.clock ?? systemClock;
  }
  private readonly clock: Clock;

  /** True while a command was issued and its result has not been recorded. */
  hasPendingCommand(commandId: string): boolean {
    return this.commands.has(commandId);
  }

  /** The command issued under this id whose result has not been recorded: its site, action and epoch. */
  pendingCommand(commandId: string): Readonly<CommandRequest> | undefined {
    return this.commands.get(commandId)?.request;
  }

  /**
   * False until start() has read the stream: a runner is listed as soon as it is made, and the
   * leader's rehydration runs many in turns, so site evaluation, the API and metrics can meet one
   * that has no state yet (its view would throw; simulator seed 35 crashed the coordinator so).
   */
  get rehydrated(): boolean {
    return this.snapshot !== undefined;
  }

  /** The view of the current snapshot, built once per snapshot (ingestion asks for it per copy per message). */
  get view(): WorkloadView {
    if (this.viewOf !== this.snapshot || !this.cachedView) {
      const fencing = fencedSites(this.fences);
      this.cachedView = { ...viewWorkload(this.snapshot), ...(fencing.length > 0 ? { fencing } : {}) };
      this.viewOf = this.snapshot;
    }
    return this.cachedView;
  }
  private cachedView?: WorkloadView;
  private viewOf?: WorkloadSnapshot;

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
        this.fences = new Map();
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
    this.commands = onlyRecordedCommands(folded.commands, events, (ids) => this.deps.logger.warn({ workloadId: this.workloadId, commandIds: ids }, 'commands the machine re-derives were never recorded as issued (a stream of another statechart version): not sent'));
    this.fences = new Map();
    for (const ev of events) noteFenceEvent(this.fences, ev.type, ev.data);
  }

  /** Rehydrates from the newest snapshot plus the stream's tail; false when there is no usable snapshot. */
  private async fromSnapshot(): Promise<boolean> {
    const snap = await this.deps.store.loadSnapshot(this.stream).catch(() => undefined);
    if (!snap || snap.schema !== STATECHART_VERSION) return false; // another machine version: fold it all
    const state = snap.state as { machine: unknown; timers: PendingTimer[]; commands: PendingCommand[]; fences?: PersistedFenceMarks };
    if (!state.fences) return false; // written before fences were kept: fold it all
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
    this.fences = restoreFenceMarks(state.fences);
    for (const ev of tail) if (ev.position > snap.version) noteFenceEvent(this.fences, ev.type, ev.data);
    return true;
  }

  /** Saves a snapshot now and then; a failure costs only a longer rehydration later. */
  private maybeSnapshot(appended: number): void {
    const every = this.deps.snapshotEvery ?? 500;
    this.sinceSnapshot += appended;
    if (every <= 0 || this.sinceSnapshot < every) return;
    this.sinceSnapshot = 0;
    const state = { machine: persistWorkload(this.snapshot), timers: [...this.timers.values()], commands: [...this.commands.values()], fences: persistFenceMarks(this.fences) };
    this.deps.store
      .saveSnapshot({ stream: this.stream, version: this.version, state, schema: STATECHART_VERSION })
      .catch((e: unknown) => this.deps.logger.warn({ err: e, workloadId: this.workloadId }, 'snapshot not saved'));
  }

  /**
   * Queues an input; resolves when it has been appended and its effects dispatched. Inputs that
   * queue up while an append is under way (a replica's fresh facts and the failure report they
   * precede, a burst of reports) are decided one after another and appended together, in order.
   */
  submit(input: WorkloadInput, origin: Origin): Promise<StepOutcome | undefined> {
    return new Promise<StepOutcome | undefined>((resolve, reject) => {
      this.pending.push({ input, origin, ctx: context.active(), resolve, reject });
      this.kick();
    });
  }

  /** Starts draining the queue unless a drain is under way (which then picks the new input up). */
  private kick(): void {
    if (this.draining) return;
    this.draining = (async () => {
      try {
        await this.drain();
      } finally {
        this.draining = undefined;
        // An input submitted between the drain's last look at the queue and now.
        if (this.pending.length > 0) this.kick();
      }
    })();
  }

  /** Resolves when every input submitted so far has been processed. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  stop(): void {
    this.stopped = true;
    for (const h of this.handles.values()) this.clock.clearTimeout(h);
    this.handles.clear();
  }

  private async drain(): Promise<void> {
    await Promise.resolve(); // inputs submitted in the same tick (one agent message) go in one batch
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, MAX_INPUTS_PER_APPEND);
      try {
        const outcomes = await this.processBatch(batch);
        batch.forEach((q, i) => q.resolve(outcomes[i]));
      } catch (e) {
        this.deps.logger.error({ err: e, workloadId: this.workloadId, inputs: batch.map((q) => q.input.type) }, 'input processing failed');
        for (const q of batch) q.reject(e);
      }
    }
  }

  /**
   * Pure. Decides an input and, while a step arms a timer due at once (a zero debounce, a lease
   * margin already passed), fires that timer in the same moment: the runtime would deliver it
   * next anyway, and deciding it here spares a whole append and timer round trip on the path from
   * a failure report to the fence command. Each fired timer is recorded as its own input, so
   * the stream is exactly what separate steps would have written and replays the same way.
   */
  private decideChain(from: WorkloadSnapshot, input: WorkloadInput, origin: Origin): ChainStep[] {
    const chain: ChainStep[] = [];
    let snapshot = from;
    let next: { input: WorkloadInput; origin: Origin } | undefined = { input, origin };
    for (let i = 0; next && i < MAX_CHAINED_TIMERS; i++) {
      const before = stateOf(snapshot);
      const step = decideWorkload(snapshot, next.input);
      const after = stateOf(step.snapshot);
      const decisions = step.effects.flatMap((e) => (e.kind === 'decision' ? [e.decision] : []));
      chain.push({ input: next.input, origin: next.origin, step, before, after, decisions, consumed: undefined });
      snapshot = step.snapshot;
      const due = dueAtOnce(step.effects);
      if (!due) break;
      chain[chain.length - 1]!.consumed = due;
      next = { input: { type: 'TIMER_FIRED', at: next.input.at, timerId: due.timerId, event: due.event }, origin: { actor: { kind: 'system', id: 'timer' }, ...(origin.traceId ? { traceId: origin.traceId } : {}) } };
    }
    return chain;
  }

  /**
   * decide (each input in turn, each in its own decision span) → one append of everything with
   * the expected version → then, input by input in its span, settle and dispatch. Nothing is
   * dispatched or armed unless the append succeeded. The stream loop (stream-loop.ts) runs the
   * steps under the workload policy: after a conflict the inputs are decided again on top of the
   * other writer's history, an unavailable store is waited out while this coordinator may act.
   */
  private processBatch(batch: Queued[]): Promise<Array<StepOutcome | undefined>> {
    const tracer = this.deps.tracer ?? trace.getTracer('drc-coordinator');
    const notProcessed = () => new NotLeaderError(`input for ${this.workloadId} not processed`);
    return runStreamStep<DecidedBatch, Array<StepOutcome | undefined>>({
      store: this.deps.store,
      stream: this.stream,
      policy: WORKLOAD_STREAM_RETRY,
      clock: this.clock,
      ...(this.deps.gate ? { gate: this.deps.gate } : {}),
      version: () => this.version,
      precheck: () => {
        if (this.stopped) return { result: batch.map(() => undefined) };
        if (this.deps.canAct && !this.deps.canAct()) throw notProcessed();
        return undefined;
      },
      decide: () => this.decideBatch(batch, tracer),
      events: (d) => d.events,
      abandon: (d, e) => {
        for (const x of d.decided) endDecisionSpan(x.span, { error: e });
      },
      reload: async (e) => {
        // Another writer appended: take its history as truth and decide these inputs again on top of it.
        this.deps.logger.warn({ workloadId: this.workloadId, err: e }, 'stream moved under us; rehydrating');
        this.stop();
        this.stopped = false;
        await this.rehydrate();
        for (const t of this.timers.values()) this.arm(t);
      },
      mayRetry: () => {
        if (this.stopped) return false;
        if (this.deps.canAct && !this.deps.canAct()) throw notProcessed();
        return true;
      },
      onRetry: (e, retryInMs) => this.deps.logger.warn({ workloadId: this.workloadId, err: e, retryInMs }, 'event store unavailable; retrying append'),
      commit: (d, nextVersion, appendMs) => this.commitBatch(d, nextVersion, appendMs),
      dispatch: (d) => this.dispatchBatch(d),
    });
  }

  /** Pure but for the spans it starts. Decides a batch of inputs in order, and the events recording them. */
  private decideBatch(batch: Queued[], tracer: Tracer): DecidedBatch {
    let snapshot = this.snapshot;
    const decided = batch.map((q) => {
      const span = startDecisionSpan(tracer, { workloadId: this.workloadId, inputType: q.input.type, stateBefore: stateOf(snapshot) }, q.ctx);
      const traceId = traceIdOf(span);
      const chain = this.decideChain(snapshot, q.input, traceId && !q.origin.traceId ? { ...q.origin, traceId } : q.origin);
      snapshot = chain[chain.length - 1]!.step.snapshot;
      return { q, span, chain };
    });
    const events = decided.flatMap(({ chain }) =>
      chain.flatMap((c) => {
        const view = viewWorkload(c.step.snapshot);
        return eventsForStep({
          writer: this.deps.writer,
          origin: c.origin,
          input: c.input,
          decisions: c.decisions,
          timers: c.step.effects.flatMap((e): Array<{ kind: 'schedule'; timerId: string; delayMs: number } | { kind: 'cancel'; timerId: string }> =>
            e.kind === 'schedule' ? [{ kind: 'schedule' as const, timerId: e.timerId, delayMs: e.delayMs }] : e.kind === 'cancel' ? [{ kind: 'cancel' as const, timerId: e.timerId }] : [],
          ),
          stateBefore: c.before,
          stateAfter: c.after,
          epoch: view.epoch,
          primarySite: view.primarySite,
        });
      }),
    );
    return { decided, events, snapshot };
  }

  /** The batch is appended: its state, fence marks, pending timers and commands become the runner's. */
  private commitBatch({ decided, events, snapshot }: DecidedBatch, nextVersion: number, appendMs: number): void {
    this.version = nextVersion;
    this.snapshot = snapshot;
    for (const ev of events) noteFenceEvent(this.fences, ev.type, ev.data);
    this.cachedView = undefined; // the marks may change under an unchanged snapshot (a late fence result)
    for (const { chain } of decided) {
      for (const c of chain) {
        settle({ timers: this.timers, commands: this.commands }, c.input, c.step.effects);
        this.deps.onAppended?.(this.workloadId, c.decisions, appendMs, c.input);
      }
    }
    this.maybeSnapshot(events.length);
  }

  /** Input by input, in its decision span: commands sent, timers armed; the outcomes for the submitters. */
  private async dispatchBatch({ decided }: DecidedBatch): Promise<Array<StepOutcome | undefined>> {
    const outcomes: Array<StepOutcome | undefined> = [];
    for (const { q, span, chain } of decided) {
      const first = chain[0]!;
      const last = chain[chain.length - 1]!;
      const view = viewWorkload(last.step.snapshot);
      const decisions = chain.flatMap((c) => c.decisions);
      // The command goes out inside its decision's span: the trace continues at the agent.
      await context.with(trace.setSpan(q.ctx, span), async () => {
        for (const c of chain) {
          await this.carryOut(c.input, c.consumed ? c.step.effects.filter((e) => e !== c.consumed) : c.step.effects);
          if (c.before !== c.after) {
            const v = viewWorkload(c.step.snapshot);
            this.deps.logger.info({ workloadId: this.workloadId, from: c.before, to: c.after, epoch: v.epoch, primarySite: v.primarySite, correlationId: c.origin.correlationId }, 'workload state changed');
          }
        }
      });
      endDecisionSpan(span, { stateAfter: last.after, decisions });
      outcomes.push({ decisions, stateBefore: first.before, stateAfter: last.after, view, version: this.version });
    }
    this.deps.onChange?.(this.view);
    return outcomes;
  }

  private async carryOut(input: WorkloadInput, effects: ReadonlyArray<Effect>): Promise<void> {
    for (const e of effects) {
      if (e.kind === 'cancel') {
        const h = this.handles.get(e.timerId);
        if (h !== undefined) this.clock.clearTimeout(h);
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
    if (old !== undefined) this.clock.clearTimeout(old);
    const delay = Math.max(0, t.dueAt - this.deps.now());
    const h = this.clock.setTimeout(() => {
      this.handles.delete(t.timerId);
      if (!this.timers.has(t.timerId)) return;
      // Nobody waits on a timer's input: a rejection (the lead lost meanwhile, the store down past
      // the retries) must not become an unhandled rejection, which ends the process (simulator
      // seeds 12, 16, 21: NotLeaderError). The timer stays in the stream as pending, and whoever
      // leads next re-arms it when it rehydrates.
      this.submit({ type: 'TIMER_FIRED', at: this.deps.now(), timerId: t.timerId, event: t.event }, { actor: { kind: 'system', id: 'timer' } }).catch((e: unknown) => {
        this.deps.logger[e instanceof NotLeaderError ? 'info' : 'warn']({ err: e, workloadId: this.workloadId, timerId: t.timerId }, 'timer input not processed; its timer stays pending in the stream');
      });
    }, delay);
    // A workload's timer alone does not keep the process alive (production timers have unref).
    (h as { unref?: () => void }).unref?.();
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

/**
 * Pure but for `warn`. The pending commands of a full fold that the stream recorded as issued.
 * A fold re-decides the recorded inputs with the machine this coordinator runs; across a
 * statechart version that machine may derive a command the history never issued, and sending it
 * would act on a decision nobody appended (invariant 3). Within one version the two sets agree.
 */
function onlyRecordedCommands(commands: Map<string, PendingCommand>, events: ReadonlyArray<{ type: string; data: unknown }>, warn: (ids: string[]) => void): Map<string, PendingCommand> {
  const issued = new Set<string>();
  for (const e of events) {
    if (e.type !== 'CommandIssued') continue;
    const id = (e.data as { command?: { commandId?: unknown } }).command?.commandId;
    if (typeof id === 'string') issued.add(id);
  }
  const ghosts = [...commands.keys()].filter((id) => !issued.has(id));
  if (ghosts.length === 0) return commands;
  warn(ghosts);
  return new Map([...commands].filter(([id]) => issued.has(id)));
}
