import { DEFAULT_POLICY, workloadStream, type Command } from '@drc/contracts';
import { createPostgresEventStore, type EventStore } from '@drc/event-store';
import { verifyReplay } from '@drc/history';
import { createLogger } from '@drc/runtime';
import { createTestDatabase, type TestDatabase } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkloadRunner } from './runner';

/*
 * With no debounce, a primary failure must reach the fence command in one append: the timer
 * due at once is fired in the same step, and the stream still reads (and replays) as if the
 * timer had fired on its own.
 */
const setup = (debounceMs: number) => ({
  workloadId: 'w',
  primarySite: 'A',
  sites: [{ siteId: 'A', priority: 1 }, { siteId: 'B', priority: 2 }],
  policy: { ...DEFAULT_POLICY, debounceMs, fenceMarginMs: 0 },
  epoch: 0,
});

describe('runner - timers due at once are decided in the same append', () => {
  let db: TestDatabase;
  let store: EventStore;
  beforeAll(async () => {
    db = await createTestDatabase('zerodelay');
    store = createPostgresEventStore({ url: db.url });
    await store.init();
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('debounce 0: failure report to fence command in one append, recorded as separate inputs that replay exactly', async () => {
    const appends: number[] = [];
    const counting: EventStore = { ...store, append: (stream, events, o) => (appends.push(events.length), store.append(stream, events, o)) };
    const sent: Command[] = [];
    const runner = new WorkloadRunner('w', { store: counting, writer: { coordinatorId: 'zd', leaderEpoch: 1 }, logger: createLogger('t').child({}, { level: 'silent' }), now: Date.now, dispatch: async (c) => void sent.push(c) });
    await runner.start(setup(0));
    await runner.submit({ type: 'REPLICA_STATUS', at: Date.now(), siteId: 'B', healthy: true, role: 'replica', position: '100', lagSeconds: 0 }, { actor: { kind: 'agent', id: 'B' } });
    appends.length = 0;
    const outcome = await runner.submit({ type: 'PRIMARY_FAILED', at: Date.now(), siteId: 'A', reason: 'unhealthy', evidence: ['probe failed'] }, { actor: { kind: 'agent', id: 'A' } });
    runner.stop();
    expect(appends).toHaveLength(1);
    expect(sent.map((c) => c.action)).toContain('fence');
    expect(outcome?.decisions.map((d) => d.type)).toEqual(expect.arrayContaining(['FailoverStarted', 'CommandIssued']));
    const events = await store.readStream(workloadStream('w'));
    const types = events.map((e) => e.type);
    const failed = types.indexOf('PrimaryFailureObserved');
    expect(types.slice(failed)).toEqual(expect.arrayContaining(['TimerScheduled', 'TimerFired', 'FailoverStarted', 'CommandIssued']));
    expect(types.indexOf('TimerScheduled')).toBeLessThan(types.indexOf('TimerFired'));
    expect(types.indexOf('TimerFired')).toBeLessThan(types.indexOf('FailoverStarted'));
    const fired = events.find((e) => e.type === 'TimerFired')!;
    expect(fired.metadata.actor).toEqual({ kind: 'system', id: 'timer' });
    const report = verifyReplay(events);
    expect(report.mismatches).toEqual([]);
  });

  it('a real debounce still waits for its timer: the failure report alone commands nothing', async () => {
    const sent: Command[] = [];
    const runner = new WorkloadRunner('w2', { store, writer: { coordinatorId: 'zd', leaderEpoch: 1 }, logger: createLogger('t').child({}, { level: 'silent' }), now: Date.now, dispatch: async (c) => void sent.push(c) });
    await runner.start({ ...setup(60_000), workloadId: 'w2' });
    await runner.submit({ type: 'PRIMARY_FAILED', at: Date.now(), siteId: 'A', reason: 'unhealthy', evidence: ['probe failed'] }, { actor: { kind: 'agent', id: 'A' } });
    runner.stop();
    expect(sent).toEqual([]);
    expect(runner.state).toBe('suspect');
    expect((await store.readStream(workloadStream('w2'))).map((e) => e.type)).not.toContain('TimerFired');
  });

  it('inputs submitted together are decided in order and appended together, each answered with its own outcome', async () => {
    const appends: number[] = [];
    const counting: EventStore = { ...store, append: (stream, events, o) => (appends.push(events.length), store.append(stream, events, o)) };
    const sent: Command[] = [];
    const runner = new WorkloadRunner('w3', { store: counting, writer: { coordinatorId: 'zd', leaderEpoch: 1 }, logger: createLogger('t').child({}, { level: 'silent' }), now: Date.now, dispatch: async (c) => void sent.push(c) });
    await runner.start({ ...setup(0), workloadId: 'w3' });
    appends.length = 0;
    const at = Date.now();
    const [lag, fresh, failed] = await Promise.all([
      runner.submit({ type: 'REPLICA_STATUS', at, siteId: 'B', healthy: true, role: 'replica', position: '100', lagSeconds: 3 }, { actor: { kind: 'agent', id: 'B' } }),
      runner.submit({ type: 'REPLICA_STATUS', at, siteId: 'B', healthy: true, role: 'replica', position: '120', lagSeconds: 0 }, { actor: { kind: 'agent', id: 'B' } }),
      runner.submit({ type: 'PRIMARY_FAILED', at, siteId: 'A', reason: 'unhealthy', evidence: ['probe failed'] }, { actor: { kind: 'agent', id: 'A' } }),
    ]);
    runner.stop();
    expect(appends).toHaveLength(1);
    expect(lag?.decisions).toEqual([]);
    expect(fresh?.view.replicas.find((r) => r.siteId === 'B')).toMatchObject({ position: '120', lagSeconds: 0 });
    expect(failed?.decisions.map((d) => d.type)).toEqual(expect.arrayContaining(['FailoverStarted', 'CommandIssued']));
    expect(sent.map((c) => c.action)).toEqual(['fence']);
    const events = await store.readStream(workloadStream('w3'));
    const inputs = events.filter((e) => ['ReplicaStatusObserved', 'PrimaryFailureObserved'].includes(e.type)).map((e) => (e.data as { position?: string }).position ?? e.type);
    expect(inputs).toEqual(['100', '120', 'PrimaryFailureObserved']);
    expect(verifyReplay(events).mismatches).toEqual([]);
    // And the next input, submitted after these were answered, is not left behind.
    const runner2 = new WorkloadRunner('w3', { store, writer: { coordinatorId: 'zd', leaderEpoch: 1 }, logger: createLogger('t').child({}, { level: 'silent' }), now: Date.now, dispatch: async () => {} });
    await runner2.start({ ...setup(0), workloadId: 'w3' });
    await runner2.submit({ type: 'REPLICA_STATUS', at: Date.now(), siteId: 'B', healthy: true, role: 'replica', position: '130', lagSeconds: 0 }, { actor: { kind: 'agent', id: 'B' } });
    const next = await runner2.submit({ type: 'REPLICA_STATUS', at: Date.now(), siteId: 'B', healthy: false, role: 'replica', position: '131', lagSeconds: 0 }, { actor: { kind: 'agent', id: 'B' } });
    runner2.stop();
    expect(next?.view.replicas.find((r) => r.siteId === 'B')?.healthy).toBe(false);
  });

});
