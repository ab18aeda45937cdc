import { randomUUID } from 'node:crypto';
import { CommandSchema, DEFAULT_POLICY, workloadStream, type WorkloadInput, type WorkloadSetup } from '@drc/contracts';
import { createPostgresEventStore, type NewEvent } from '@drc/event-store';
import { recordStream, simulateInputs } from '@drc/history';
import { decodeJson, jetstreamManager } from '@drc/runtime';
import { createTestDatabase, type TestDatabase } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../test-coordinator.fixture';

/**
 * Invariant 3 (append before dispatch) across a statechart upgrade: a coordinator rehydrating a
 * stream recorded by another machine version re-decides its inputs with the machine it runs, and
 * that machine may derive a command the recorded history never issued (workload@4 chooses a
 * replica before fencing; a history where the old machine escalated instead re-folds into a
 * fence). Only commands the stream recorded as issued, and not answered, may be sent at start.
 */
describe('invariant 3 - a coordinator sends at start only commands the stream recorded', () => {
  let db: TestDatabase;
  let t: TestCoordinator;

  beforeAll(async () => {
    db = await createTestDatabase('ghostcmd');
    const at = Date.now() - 2_000;
    const setup: WorkloadSetup = {
      workloadId: 'w1',
      primarySite: 'A',
      sites: [{ siteId: 'A', priority: 1 }, { siteId: 'B', priority: 2 }],
      policy: { ...DEFAULT_POLICY, debounceMs: 500, fenceTimeoutMs: 600_000 },
      epoch: 0,
      at,
    };
    // What today's machine decides: B healthy, A fails, the debounce passes, A is sent a fence
    // (never answered: A is dead) ...
    const external: WorkloadInput[] = [
      { type: 'REPLICA_STATUS', at: at + 100, siteId: 'B', healthy: true, role: 'replica', position: '1000', lagSeconds: 0 },
      { type: 'PRIMARY_FAILED', at: at + 200, siteId: 'A', reason: 'unhealthy', evidence: ['probe failed'] },
    ];
    const inputs = simulateInputs(setup, external, { deadSites: ['A'], until: at + 1_000 });
    // ... recorded as a machine that issued no command would have recorded it.
    const recorded = recordStream(setup, inputs).filter((e) => e.type !== 'CommandIssued');
    expect(recordStream(setup, inputs).some((e) => e.type === 'CommandIssued'), 'the inputs make today\'s machine fence A').toBe(true);
    const store = createPostgresEventStore({ url: db.url });
    await store.init();
    await store.append(workloadStream('w1'), recorded.map((e): NewEvent => ({ id: randomUUID(), type: e.type, data: e.data, metadata: e.metadata as NewEvent['metadata'] })), { expectedVersion: 0 });
    await store.close();
    t = await startTestCoordinator(
      'ghostcmd',
      {
        sites: [{ id: 'A' }, { id: 'B' }],
        workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
      },
      { databaseUrl: db.url },
    );
  });

  afterAll(async () => {
    await t?.stop();
    await db?.drop();
  });

  it('a command its machine re-derives but the history never issued is not sent', async () => {
    await t.coordinator.settled();
    const jsm = await jetstreamManager(t.nc);
    const info = await jsm.streams.info(t.subjects.streams.commands);
    const sent: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(t.subjects.streams.commands, { seq });
      if (m) sent.push(CommandSchema.parse(decodeJson(m.data)).commandId);
    }
    const issued = (await t.store.readStream(workloadStream('w1'))).filter((e) => e.type === 'CommandIssued').map((e) => (e.data as { command: { commandId: string } }).command.commandId);
    const ghosts = sent.filter((id) => !issued.includes(id));
    expect(ghosts, `sent ${sent.join(', ') || 'nothing'}; recorded as issued ${issued.join(', ') || 'nothing'}`).toEqual([]);
  });
});
