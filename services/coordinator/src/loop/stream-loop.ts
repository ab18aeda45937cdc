import { isWrongExpectedVersionError, type EventStore, type NewEvent } from '@drc/event-store';
import type { Clock } from '@drc/runtime';
import type { Gate } from './gate';

/**
 * How a stream loop answers a failed append, as data (one loop, several policies): workload
 * streams decide again on top of another writer's history and wait out an event-store outage;
 * plan runs give the run up on a conflict (another coordinator writes it) and fail at once.
 */
export interface RetryPolicy {
  /**
   * Another writer appended first (wrong expected version). `redecide`: read the stream again and
   * decide the same inputs on top of it, at most `maxRedecides` times; `stop`: this coordinator
   * gives the stream up (`onStop`) and the append's error goes to the caller.
   */
  onConflict: { kind: 'redecide'; maxRedecides: number } | { kind: 'stop' };
  /**
   * The store is unavailable (an error with `retryable: true`). `retry`: append again after a
   * delay doubling from `firstDelayMs` up to `maxDelayMs`, for as long as the loop may act; `fail`:
   * the error goes to the caller.
   */
  onUnavailable: { kind: 'retry'; firstDelayMs: number; maxDelayMs: number } | { kind: 'fail' };
}

/** Workload streams: decide again after a conflict (3 times), wait out outages (50 ms doubling to 2 s). */
export const WORKLOAD_STREAM_RETRY: RetryPolicy = {
  onConflict: { kind: 'redecide', maxRedecides: 3 },
  onUnavailable: { kind: 'retry', firstDelayMs: 50, maxDelayMs: 2_000 },
};

/** Plan runs: a conflict means another coordinator writes the run (stop it here); an outage fails the input. */
export const PLAN_RUN_STREAM_RETRY: RetryPolicy = {
  onConflict: { kind: 'stop' },
  onUnavailable: { kind: 'fail' },
};

/**
 * One stream's side of a step. `D` is what was decided (the next state, the effects), `R` what
 * the caller gets back. Every callback but `dispatch` and `reload` is synchronous.
 */
export interface StreamStep<D, R> {
  store: EventStore;
  stream: string;
  policy: RetryPolicy;
  clock: Clock;
  /** Limits how many appends run at once (across streams). */
  gate?: Gate;
  /** The stream version this loop last knew (the append's expected version). */
  version(): number;
  /**
   * Before each decision (again after a reload): `{ result }` to return without deciding (the loop
   * was stopped), or throws (not the leader any more). Undefined: go on.
   */
  precheck?(): { result: R } | undefined;
  /** Pure. Decides the pending inputs on the current state. */
  decide(): D;
  /** The events recording a decision (inputs, decisions, timers), appended as one. */
  events(decided: D): NewEvent[];
  /** A decision that was not appended (its spans end with the error). */
  abandon?(decided: D, error: unknown): void;
  /** `redecide`: takes the stream's history as truth again before deciding on top of it. */
  reload?(error: unknown): Promise<void>;
  /** `stop`: gives the stream up here. */
  onStop?(error: unknown): void;
  /** `retry` (outage): throws when the loop may no longer act (not the leader); false when it was stopped. */
  mayRetry?(error: unknown): boolean;
  /** Told before each wait of an outage retry. */
  onRetry?(error: unknown, retryInMs: number): void;
  /** The append succeeded: the decided state becomes the loop's state, at `nextVersion`. */
  commit(decided: D, nextVersion: number, appendMs: number): void;
  /** Carries out a committed decision's effects (commands, timers, notifications). */
  dispatch(decided: D): Promise<R> | R;
}

/** Pure. Whether the store said it cannot answer now (an adapter's typed, retryable error). */
function isRetryable(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { retryable?: unknown }).retryable === true;
}

/**
 * The one decide → events → append with the expected version → dispatch loop, for workload
 * streams and plan runs alike. Nothing is dispatched unless the append succeeded; what a failed
 * append leads to is the policy's (see RetryPolicy). Rethrows what it does not handle.
 */
export async function runStreamStep<D, R>(s: StreamStep<D, R>): Promise<R> {
  for (let redecided = 0; ; redecided++) {
    const skip = s.precheck?.();
    if (skip) return skip.result;
    const decided = s.decide();
    const events = s.events(decided);
    let nextVersion: number;
    let appendMs = 0;
    try {
      const elapsed = () => s.clock.monotonicMs?.() ?? s.clock.now();
      const t0 = elapsed();
      nextVersion = (await appendUnderPolicy(s, events)).nextExpectedVersion;
      appendMs = elapsed() - t0;
    } catch (e) {
      s.abandon?.(decided, e);
      if (isWrongExpectedVersionError(e)) {
        const c = s.policy.onConflict;
        if (c.kind === 'redecide' && redecided < c.maxRedecides && s.reload) {
          await s.reload(e);
          continue;
        }
        if (c.kind === 'stop') s.onStop?.(e);
      }
      throw e;
    }
    s.commit(decided, nextVersion, appendMs);
    return s.dispatch(decided);
  }
}

/** Appends with the expected version, waiting out an unavailable store when the policy says so. */
async function appendUnderPolicy<D, R>(s: StreamStep<D, R>, events: NewEvent[]): Promise<{ nextExpectedVersion: number }> {
  const append = () => s.store.append(s.stream, events, { expectedVersion: s.version() });
  const gate = s.gate ?? (<T>(f: () => Promise<T>) => f());
  const u = s.policy.onUnavailable;
  for (let i = 0; ; i++) {
    try {
      return await gate(append);
    } catch (e) {
      if (u.kind !== 'retry' || !isRetryable(e)) throw e;
      if (s.mayRetry && !s.mayRetry(e)) throw e;
      const delay = Math.min(u.maxDelayMs, u.firstDelayMs * 2 ** i);
      s.onRetry?.(e, delay);
      await s.clock.sleep(delay);
    }
  }
}
