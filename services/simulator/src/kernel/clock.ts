import type { Clock, TimerHandle } from '@drc/runtime';
import { SIM_EPOCH_MS, type Scheduler, type SimEvent, type SimProcess } from './scheduler';

/**
 * A process's view of time (the `Clock` port) over the scheduler's virtual time.
 * - skew: a constant offset of its wall clock (ms); `step(ms)` moves it at run time (an NTP
 *   step, a VM restored from a snapshot), backwards too;
 * - drift: its clock runs `driftPpm` parts per million fast (or slow when negative), both for
 *   `now()` and for how long its timers take in true (virtual) time;
 * - pauses and crashes come from its `SimProcess`: a paused process's timers fire late, all
 *   at once when it resumes; a crashed one's never fire.
 * Timer handles are numbers, as the port allows.
 */
export class SimClock implements Clock {
  private offsetMs: number;
  private readonly rate: number;
  private readonly timers = new Map<number, SimEvent>();
  private nextHandle = 1;

  constructor(
    private readonly sched: Scheduler,
    readonly proc: SimProcess,
    opts: { skewMs?: number; driftPpm?: number } = {},
  ) {
    this.offsetMs = opts.skewMs ?? 0;
    this.rate = 1 + (opts.driftPpm ?? 0) / 1e6;
  }

  now(): number {
    return Math.floor(SIM_EPOCH_MS + this.offsetMs + this.sched.now * this.rate);
  }

  /** Steps this process's wall clock by `ms` (negative: backwards). */
  step(ms: number): void {
    this.offsetMs += ms;
    this.sched.trace.record(this.sched.now, this.proc.id, 'clock-step', `${ms}ms`);
  }

  /** True (virtual) ms that pass while this clock counts `ms`. */
  private span(ms: number): number {
    return Math.max(0, ms) / this.rate;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const h = this.nextHandle++;
    const ev = this.sched.after(this.span(ms), () => {
      this.timers.delete(h);
      fn();
    }, 'timer', this.proc);
    this.timers.set(h, ev);
    return h;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle !== 'number') return;
    this.sched.cancel(this.timers.get(handle));
    this.timers.delete(handle);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const h = this.nextHandle++;
    const every = Math.max(1, ms);
    const arm = () => {
      this.timers.set(h, this.sched.after(this.span(every), () => {
        arm(); // re-armed first, so a throwing callback does not end the interval
        fn();
      }, 'interval', this.proc));
    };
    arm();
    return h;
  }

  clearInterval(handle: TimerHandle): void {
    this.clearTimeout(handle);
  }

  yield(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.sched.after(0, resolve, 'yield', this.proc);
    });
  }

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.sched.after(this.span(ms), resolve, 'sleep', this.proc);
    });
  }

  /** Drops every timer (the process crashed; its memory is gone). */
  clearAll(): void {
    for (const ev of this.timers.values()) this.sched.cancel(ev);
    this.timers.clear();
  }
}

/**
 * Patches the global timers, `setImmediate` and `Date.now` to run on the scheduler while `fn`
 * runs, for code not yet on the Clock port (today: the coordinator's WorkloadRunner arms its
 * timers with the global `setTimeout`). A timer set this way belongs to the process whose
 * event is running (`sched.current`), so it pauses and dies with it. `Date.now()` reads the
 * current process's clock via `clockOf`. Restores the originals afterwards, also on a throw.
 * Not re-entrant: one simulation at a time per thread.
 */
export async function withVirtualGlobals<T>(sched: Scheduler, clockOf: (proc: SimProcess | undefined) => SimClock | undefined, fn: () => Promise<T>): Promise<T> {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = { setTimeout: g.setTimeout, clearTimeout: g.clearTimeout, setInterval: g.setInterval, clearInterval: g.clearInterval, setImmediate: g.setImmediate, dateNow: Date.now };
  const owned = new WeakMap<object, { clock: SimClock; handle: TimerHandle }>();
  const wrap = (clock: SimClock, handle: TimerHandle) => {
    const token = { unref() { return token; }, ref() { return token; }, hasRef: () => false, [Symbol.toPrimitive]: () => handle as number };
    owned.set(token, { clock, handle });
    return token;
  };
  const clockNow = () => clockOf(sched.current);
  g.setTimeout = (cb: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const c = clockNow();
    if (!c) throw new Error('virtual setTimeout outside a simulated process');
    return wrap(c, c.setTimeout(() => cb(...args), ms ?? 0));
  };
  g.setInterval = (cb: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const c = clockNow();
    if (!c) throw new Error('virtual setInterval outside a simulated process');
    return wrap(c, c.setInterval(() => cb(...args), ms ?? 0));
  };
  g.setImmediate = (cb: (...a: unknown[]) => void, ...args: unknown[]) => {
    const c = clockNow();
    if (!c) throw new Error('virtual setImmediate outside a simulated process');
    return wrap(c, c.setTimeout(() => cb(...args), 0));
  };
  const clear = (t: unknown) => {
    if (typeof t !== 'object' || t === null) return;
    const o = owned.get(t);
    if (o) o.clock.clearTimeout(o.handle);
  };
  g.clearTimeout = clear;
  g.clearInterval = clear;
  Date.now = () => clockNow()?.now() ?? SIM_EPOCH_MS + sched.now;
  try {
    return await fn();
  } finally {
    g.setTimeout = saved.setTimeout;
    g.clearTimeout = saved.clearTimeout;
    g.setInterval = saved.setInterval;
    g.clearInterval = saved.clearInterval;
    g.setImmediate = saved.setImmediate;
    Date.now = saved.dateNow;
  }
}
