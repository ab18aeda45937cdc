import type { Trace } from './trace';

/**
 * The discrete-event scheduler: one virtual clock, one queue of events ordered by (time,
 * insertion order), run one at a time on a single thread.
 *
 * How determinism is guaranteed (and what would break it):
 * - Virtual time only moves when the next event is taken from the queue; nothing reads the
 *   machine's clock. Times are whole milliseconds; equal times run in the order they were
 *   scheduled (a sequence number), so there is never a tie to break by anything but the run.
 * - Every random choice comes from a seeded `Prng` (one forked stream per consumer).
 * - Real async code (the cores, the event store) continues in promise callbacks (microtasks).
 *   After each event the loop waits for one `setImmediate` (captured at load, before any
 *   patching): Node runs the whole microtask queue before any macrotask, so every promise
 *   chain the event started has run to completion, or is parked on a future simulated event,
 *   before virtual time moves on. The microtask queue is FIFO and fed only by this thread, so
 *   the interleaving of chains is itself a function of the event order.
 * - What would break it: real timers, real I/O, `Date.now()` or `Math.random()` in simulated
 *   code. The simulation routes the Clock and Random ports here; `virtualGlobals` (below)
 *   additionally patches the global timers and `Date.now` for code that has not been moved onto
 *   the ports yet, for the duration of a run only. The determinism test runs one seed twice in
 *   one process and compares trace hashes.
 */

/** Virtual time 0 as an epoch (ms): 2030-01-01T00:00:00Z, so clocks look like real dates. */
export const SIM_EPOCH_MS = Date.UTC(2030, 0, 1);

const realSetImmediate = globalThis.setImmediate;

/** Waits until every microtask queued so far (and every one those queue) has run. */
export function drainMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => realSetImmediate(resolve));
}

export type ProcessState = 'running' | 'paused' | 'crashed';

/** A simulated OS process: events addressed to it are held while it is paused and dropped once it crashed. */
export class SimProcess {
  state: ProcessState = 'running';
  /** Bumped at every crash: events scheduled by an earlier incarnation never run. */
  incarnation = 0;
  /** Events that came due while paused, in due order; re-queued on resume. */
  deferred: SimEvent[] = [];
  pausedUntil = 0;
  constructor(readonly id: string) {}
}

export interface SimEvent {
  time: number;
  seq: number;
  label: string;
  fn: () => void;
  proc: SimProcess | undefined;
  incarnation: number;
  cancelled: boolean;
}

export interface RunOptions {
  /** Virtual time (ms since the start) at which to stop. */
  until: number;
  /** Stop after this many events (a runaway guard). */
  maxSteps?: number;
  /** Called after every event once its microtasks ran; return a string to stop the run with it. */
  afterStep?: (ev: SimEvent) => string | undefined;
}

export class Scheduler {
  /** Virtual time, ms since the start of the run. */
  now = 0;
  steps = 0;
  private seq = 0;
  private heap: SimEvent[] = [];
  /** The process whose event (and the microtasks it started) is running now. */
  current: SimProcess | undefined;
  /**
   * Called with what an event's callback threw (an uncaught exception: in production the
   * process dies of it). Unset: the run stops with the error.
   */
  onUncaught: ((error: unknown, proc: SimProcess | undefined) => void) | undefined;
  readonly processes = new Map<string, SimProcess>();

  constructor(readonly trace: Trace) {}

  process(id: string): SimProcess {
    let p = this.processes.get(id);
    if (!p) {
      p = new SimProcess(id);
      this.processes.set(id, p);
    }
    return p;
  }

  /** Schedules `fn` at virtual time `at` (rounded up to a whole ms, never before now). */
  at(at: number, fn: () => void, label: string, proc: SimProcess | undefined = this.current): SimEvent {
    const ev: SimEvent = { time: Math.max(this.now, Math.ceil(at)), seq: this.seq++, label, fn, proc, incarnation: proc?.incarnation ?? 0, cancelled: false };
    this.push(ev);
    return ev;
  }

  after(ms: number, fn: () => void, label: string, proc: SimProcess | undefined = this.current): SimEvent {
    return this.at(this.now + Math.max(0, ms), fn, label, proc);
  }

  cancel(ev: SimEvent | undefined): void {
    if (ev) ev.cancelled = true;
  }

  /** Freezes a process for `ms` (GC pause, SIGSTOP): its events wait, then run in order. */
  pause(p: SimProcess, ms: number): void {
    if (p.state === 'crashed') return;
    const until = this.now + ms;
    if (p.state === 'paused' && p.pausedUntil >= until) return;
    p.state = 'paused';
    p.pausedUntil = until;
    this.trace.record(this.now, p.id, 'pause', `${ms}ms`);
    this.at(until, () => this.resume(p, until), 'resume', undefined);
  }

  private resume(p: SimProcess, until: number): void {
    if (p.state !== 'paused' || p.pausedUntil !== until) return;
    p.state = 'running';
    this.trace.record(this.now, p.id, 'resume', `${p.deferred.length} deferred`);
    const held = p.deferred;
    p.deferred = [];
    for (const ev of held) this.push({ ...ev, time: this.now, seq: this.seq++ });
  }

  /** Kills a process: nothing it scheduled runs any more (memory lost; the owner rebuilds it). */
  crash(p: SimProcess): void {
    p.incarnation++;
    p.state = 'crashed';
    p.deferred = [];
    this.trace.record(this.now, p.id, 'crash', `incarnation ${p.incarnation}`);
  }

  /** Marks a crashed process running again (its owner then starts a fresh instance). */
  restart(p: SimProcess): void {
    p.state = 'running';
    this.trace.record(this.now, p.id, 'restart', `incarnation ${p.incarnation}`);
  }

  get pending(): number {
    return this.heap.length;
  }

  /**
   * Runs events in (time, seq) order until `until`, draining microtasks after each. Resolves with
   * the reason it stopped early (an `afterStep` verdict, the step limit), or undefined.
   */
  async run(opts: RunOptions): Promise<string | undefined> {
    const maxSteps = opts.maxSteps ?? Number.POSITIVE_INFINITY;
    await drainMicrotasks();
    for (;;) {
      const ev = this.pop();
      if (!ev) break;
      if (ev.time > opts.until) {
        this.push(ev);
        break;
      }
      if (ev.cancelled) continue;
      const p = ev.proc;
      if (p && ev.incarnation !== p.incarnation) continue;
      this.now = ev.time;
      if (p && p.state === 'paused') {
        p.deferred.push(ev);
        continue;
      }
      if (p && p.state === 'crashed') continue;
      this.current = p;
      this.steps++;
      try {
        ev.fn();
      } catch (e) {
        if (!this.onUncaught) throw e;
        this.onUncaught(e, p);
      }
      await drainMicrotasks();
      this.current = undefined;
      const verdict = opts.afterStep?.(ev);
      if (verdict !== undefined) return verdict;
      if (this.steps >= maxSteps) return `step limit ${maxSteps} reached`;
    }
    this.now = Math.max(this.now, opts.until);
    return undefined;
  }

  // ---- binary heap ordered by (time, seq)

  private less(a: SimEvent, b: SimEvent): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private push(ev: SimEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const a = h[i]!;
      const b = h[parent]!;
      if (!this.less(a, b)) break;
      h[i] = b;
      h[parent] = a;
      i = parent;
    }
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        const t = h[i]!;
        h[i] = h[m]!;
        h[m] = t;
        i = m;
      }
    }
    return top;
  }
}
