import { DEFAULT_POLICY, workloadStream } from '@drc/contracts';
import { createPostgresEventStore, type EventStore } from '@drc/event-store';
import { createLogger } from '@drc/runtime';
import { createTestDatabase, type TestDatabase } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkloadRunner } from './runner';

/*
 * Simulator seeds 12, 16, 21 (issue 18): a workload timer fired just after the coordinator's lead
 * lapsed; the runner submitted its TIMER_FIRED with nobody waiting on the answer, the input was
 * refused (NotLeaderError) and the rejection went unhandled, which ends the coordinator process
 * (process-entry exits on an unhandled rejection). A timer's input refused must be logged and
 * left pending in the stream for the next leader, and the process must go on.
 */
describe('runner - a timer that fires after the lead was lost', () => {
  let db: TestDatabase;
  let store: EventStore;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => void unhandled.push(e);
  beforeAll(async () => {
    db = await createTestDatabase('timerlead');
    store = createPostgresEventStore({ url: db.url });
    await store.init();
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await store?.close();
    await db?.drop();
  });

  it('is not an unhandled rejection; the timer stays pending in the stream', async () => {
    let leading = true;
    const logged: string[] = [];
    const logger = createLogger('t').child({}, { level: 'silent' });
    const capture = Object.assign(Object.create(logger) as typeof logger, {
      info: (_o: unknown, msg?: string) => void logged.push(String(msg)),
      warn: (_o: unknown, msg?: string) => void logged.push(String(msg)),
    });
    const runner = new WorkloadRunner('w', {
      store,
      writer: { coordinatorId: 'tl', leaderEpoch: 1 },
      logger: capture,
      now: Date.now,
      dispatch: async () => undefined,
      canAct: () => leading,
    });
    await runner.start({ workloadId: 'w', primarySite: 'A', sites: [{ siteId: 'A', priority: 1 }, { siteId: 'B', priority: 2 }], policy: { ...DEFAULT_POLICY, debounceMs: 300 }, epoch: 0 });
    // A primary failure arms the debounce timer (300 ms); the lead is lost before it fires.
    await runner.submit({ type: 'PRIMARY_FAILED', at: Date.now(), siteId: 'A', reason: 'unhealthy', evidence: ['probe failed'] }, { actor: { kind: 'agent', id: 'A' } });
    leading = false;
    await new Promise((r) => setTimeout(r, 800));
    runner.stop();
    expect(unhandled.map((e) => String(e))).toEqual([]);
    expect(logged).toContain('timer input not processed; its timer stays pending in the stream');
    const types = (await store.readStream(workloadStream('w'))).map((e) => e.type);
    expect(types).toContain('TimerScheduled');
    expect(types).not.toContain('TimerFired');
  });
});
