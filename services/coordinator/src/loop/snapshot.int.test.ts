import { DEFAULT_POLICY, workloadStream, type Command } from '@drc/contracts';
import { createPostgresEventStore, type EventStore, type ReadStreamOptions } from '@drc/event-store';
import { createLogger } from '@drc/runtime';
import { createTestDatabase, eventually, type TestDatabase } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkloadRunner } from './runner';

const setup = { workloadId: 'w', primarySite: 'A', sites: [{ siteId: 'A', priority: 1 }, { siteId: 'B', priority: 2 }], policy: { ...DEFAULT_POLICY, debounceMs: 60_000 }, epoch: 0 };

describe('runner - rehydration from a snapshot plus the stream tail equals a full fold', () => {
  let db: TestDatabase;
  let store: EventStore;
  beforeAll(async () => {
    db = await createTestDatabase('snap');
    store = createPostgresEventStore({ url: db.url });
    await store.init();
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  const runner = (s: EventStore, sent: Command[] = []) =>
    new WorkloadRunner('w', {
      store: s,
      writer: { coordinatorId: 'snap-test', leaderEpoch: 1 },
      logger: createLogger('t').child({}, { level: 'silent' }),
      now: Date.now,
      dispatch: async (c) => void sent.push(c),
      snapshotEvery: 5,
    });

  it('reads only the tail after the snapshot and arrives at the same state and pending effects', async () => {
    const first = runner(store);
    await first.start(setup);
    for (let lag = 1; lag <= 12; lag++) {
      await first.submit({ type: 'REPLICA_STATUS', at: Date.now(), siteId: 'B', healthy: true, role: 'replica', position: String(1000 + lag), lagSeconds: lag }, { actor: { kind: 'agent', id: 'B' } });
    }
    // A pending timer too: the primary fails (the 60 s debounce keeps it armed).
    await first.submit({ type: 'PRIMARY_FAILED', at: Date.now(), siteId: 'A', reason: 'unhealthy', evidence: ['probe'] }, { actor: { kind: 'agent', id: 'A' } });
    first.stop();
    const snap = await eventually(() => store.loadSnapshot(workloadStream('w')), 5000);
    expect(snap.version).toBeGreaterThan(1);

    const reads: ReadStreamOptions[] = [];
    const recording: EventStore = { ...store, readStream: (stream, o) => (reads.push(o ?? {}), store.readStream(stream, o)) };
    const fromSnapshot = runner(recording);
    await fromSnapshot.start(setup);
    fromSnapshot.stop();
    expect(reads.every((o) => (o.fromPosition ?? 1) > snap.version)).toBe(true);

    const noSnapshots: EventStore = { ...store, loadSnapshot: async () => undefined };
    const fullFold = runner(noSnapshots);
    await fullFold.start(setup);
    fullFold.stop();
    expect(fromSnapshot.view).toEqual(fullFold.view);
    expect(fromSnapshot.state).toBe('suspect');
    expect(fromSnapshot.view.replicas.find((r) => r.siteId === 'B')?.lagSeconds).toBe(12);
  });

  it('a fence pending at the old primary is known after rehydration, from a snapshot or a full fold (/lb reads it)', async () => {
    const sent: Command[] = [];
    const first = new WorkloadRunner('wf', {
      store,
      writer: { coordinatorId: 'snap-test', leaderEpoch: 1 },
      logger: createLogger('t').child({}, { level: 'silent' }),
      now: Date.now,
      dispatch: async (c) => void sent.push(c),
      snapshotEvery: 3,
    });
    const setupF = { ...setup, workloadId: 'wf', policy: { ...setup.policy, fenceTimeoutMs: 600_000, promoteTimeoutMs: 600_000 } };
    await first.start(setupF);
    await first.submit({ type: 'REPLICA_STATUS', at: Date.now(), siteId: 'B', healthy: true, role: 'replica', position: '1000', lagSeconds: 0 }, { actor: { kind: 'agent', id: 'B' } });
    await first.submit({ type: 'OPERATOR_COMMAND', at: Date.now(), command: 'failover', actor: { kind: 'operator', id: 'op' }, requestId: 'r1' }, { actor: { kind: 'operator', id: 'op' } });
    // Whatever comes before the fence (a check of the replica, say) is answered done by its site.
    const answered = new Set<string>();
    for (let i = 0; i < 5 && !sent.some((c) => c.siteId === 'A' && c.action === 'fence'); i++) {
      const c = sent.find((x) => x.siteId !== 'A' && !answered.has(x.commandId));
      if (!c) break;
      answered.add(c.commandId);
      await first.submit({ type: 'COMMAND_RESULT', at: Date.now(), commandId: c.commandId, siteId: c.siteId, action: c.action, epoch: c.epoch, status: 'done', detail: {} }, { actor: { kind: 'agent', id: c.siteId } });
    }
    expect(sent.map((c) => `${c.action}@${c.siteId}`)).toContain('fence@A');
    for (let lag = 1; lag <= 4; lag++) {
      await first.submit({ type: 'REPLICA_STATUS', at: Date.now(), siteId: 'B', healthy: true, role: 'replica', position: String(1000 + lag), lagSeconds: 0 }, { actor: { kind: 'agent', id: 'B' } });
    }
    first.stop();
    expect(first.view.fencing).toEqual(['A']);
    const snap = await eventually(async () => {
      const x = await store.loadSnapshot(workloadStream('wf'));
      return x && (x.state as { fences?: unknown[] }).fences?.length ? x : undefined;
    }, 5000);
    expect(snap.version).toBeGreaterThan(1);

    const again = (s: EventStore) =>
      new WorkloadRunner('wf', { store: s, writer: { coordinatorId: 'snap-test', leaderEpoch: 1 }, logger: createLogger('t').child({}, { level: 'silent' }), now: Date.now, dispatch: async () => {} });
    const fromSnapshot = again(store);
    await fromSnapshot.start(setupF);
    fromSnapshot.stop();
    const fullFold = again({ ...store, loadSnapshot: async () => undefined });
    await fullFold.start(setupF);
    fullFold.stop();
    expect(fromSnapshot.view.fencing).toEqual(['A']);
    expect(fullFold.view).toEqual(fromSnapshot.view);
  });
});
