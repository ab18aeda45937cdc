import { createMemoryEventStore, isEventStoreUnavailableError, isWrongExpectedVersionError, type EventStore, type NewEvent } from '@drc/event-store';
import { systemClock, type Clock } from '@drc/runtime';
import { describe, expect, it } from 'vitest';
import { PLAN_RUN_STREAM_RETRY, runStreamStep, WORKLOAD_STREAM_RETRY, type RetryPolicy } from './stream-loop';

let nextId = 0;
/** One valid event (the memory store checks metadata as a database adapter does). */
function event(type: string): NewEvent {
  return { id: `00000000-0000-4000-8000-${String(++nextId).padStart(12, '0')}`, type, data: {}, metadata: { correlationId: 'c', actor: { kind: 'system', id: 'test' }, coordinatorId: 'c1', leaderEpoch: 1, statechartVersion: 'test@1' } };
}

/** A clock whose sleeps return at once and are written down (the delays are what is checked). */
function recordingClock(): Clock & { slept: number[] } {
  const slept: number[] = [];
  return { ...systemClock, slept, sleep: async (ms: number) => void slept.push(ms) };
}

/** A counter stream: state = how many inputs were decided; `log` says what happened, in order. */
function counterLoop(store: EventStore, policy: RetryPolicy, clock: Clock, log: string[]) {
  const s = { version: 0, count: 0 };
  const step = () =>
    runStreamStep<{ count: number }, number>({
      store,
      stream: 'counter-1',
      policy,
      clock,
      version: () => s.version,
      decide: () => {
        log.push(`decide@${s.version}`);
        return { count: s.count + 1 };
      },
      events: () => [event('Counted')],
      reload: async () => {
        s.version = await store.streamVersion('counter-1');
        log.push(`reload->${s.version}`);
      },
      onStop: () => log.push('stop'),
      onRetry: (_e, ms) => log.push(`retry ${ms}`),
      commit: (d, v) => {
        s.count = d.count;
        s.version = v;
        log.push(`commit@${v}`);
      },
      dispatch: (d) => {
        log.push('dispatch');
        return d.count;
      },
    });
  return { s, step };
}

describe('stream loop - decide, append with the expected version, then dispatch, under a retry policy', () => {
  it('workload policy: after another writer appended, reloads and decides again on top of it', async () => {
    const store = createMemoryEventStore();
    const log: string[] = [];
    const { step } = counterLoop(store, WORKLOAD_STREAM_RETRY, recordingClock(), log);
    await store.append('counter-1', [event('ByAnother')], { expectedVersion: 'any' });
    expect(await step()).toBe(1);
    expect(log).toEqual(['decide@0', 'reload->1', 'decide@1', 'commit@2', 'dispatch']);
  });

  it('workload policy: gives up after maxRedecides conflicts, with nothing dispatched', async () => {
    const store = createMemoryEventStore();
    const log: string[] = [];
    const { step } = counterLoop({ ...store, append: (st, evs) => store.append(st, evs, { expectedVersion: 99 }) }, WORKLOAD_STREAM_RETRY, recordingClock(), log);
    const e = await step().catch((x: unknown) => x);
    expect(isWrongExpectedVersionError(e)).toBe(true);
    expect(log.filter((l) => l.startsWith('decide'))).toHaveLength(4);
    expect(log).not.toContain('dispatch');
  });

  it('plan-run policy: a conflict stops the stream here and nothing is dispatched', async () => {
    const store = createMemoryEventStore();
    const log: string[] = [];
    const { step } = counterLoop(store, PLAN_RUN_STREAM_RETRY, recordingClock(), log);
    await store.append('counter-1', [event('ByAnother')], { expectedVersion: 'any' });
    const e = await step().catch((x: unknown) => x);
    expect(isWrongExpectedVersionError(e)).toBe(true);
    expect(log).toEqual(['decide@0', 'stop']);
  });

  it('workload policy waits out an unavailable store with doubling delays; plan-run policy fails at once', async () => {
    let outages = 2;
    const flaky = () =>
      createMemoryEventStore({
        beforeCall: () => {
          if (outages-- > 0) throw new Error('connection refused');
        },
      });
    const clock = recordingClock();
    const log: string[] = [];
    expect(await counterLoop(flaky(), WORKLOAD_STREAM_RETRY, clock, log).step()).toBe(1);
    expect(clock.slept).toEqual([50, 100]);
    expect(log).toEqual(['decide@0', 'retry 50', 'retry 100', 'commit@1', 'dispatch']);

    outages = 1;
    const planLog: string[] = [];
    const e = await counterLoop(flaky(), PLAN_RUN_STREAM_RETRY, clock, planLog).step().catch((x: unknown) => x);
    expect(isEventStoreUnavailableError(e)).toBe(true);
    expect(planLog).toEqual(['decide@0']);
  });
});
