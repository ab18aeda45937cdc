import { workloadStream } from '@drc/contracts';
import { eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlayedEstate, type PlayedEstate } from './played-agents.fixture';

/*
 * Issue 17 item 9: the tracker's "primary is down" flag belonged to the workload, not to the copy
 * it was raised for, and nothing cleared it when the primary moved; so the first healthy report of
 * the NEW primary after every failover was recorded as PrimaryRecoveryObserved, a recovery that
 * never happened (and an input that could call off what the machine was doing).
 */
describe('detection - a failover records no recovery of the new primary', () => {
  let e: PlayedEstate;
  beforeAll(async () => {
    e = await startPlayedEstate('norecov', { autoReprotect: false });
  });
  afterAll(async () => {
    await e?.stop();
  });

  it("after the primary's copy fails and B takes over, B's healthy reports are not taken for a recovery", async () => {
    const { coordinator, store } = e.t;
    await eventually(() => coordinator.workloadView('w1')?.state === 'protected' && coordinator.siteViews().every((s) => s.status === 'up'), 10_000);
    e.healthy.set('A', false); // A's copy fails; its agent goes on reporting (and obeys the fence)
    await eventually(() => coordinator.workloadView('w1')?.state === 'failedOver', 20_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: ${await e.explain()}`);
    });
    expect(coordinator.workloadView('w1')?.primarySite).toBe('B');
    // B goes on reporting itself a healthy primary every 300 ms: let the tracker take five of them.
    await new Promise((r) => setTimeout(r, 1_500));
    await coordinator.settled();
    const recoveries = (await store.readStream(workloadStream('w1'))).filter((x) => x.type === 'PrimaryRecoveryObserved').map((x) => x.data as { siteId: string });
    expect(recoveries.filter((r) => r.siteId === 'B'), await e.explain()).toEqual([]);
  });
});
