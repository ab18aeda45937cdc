import { workloadStream, type Heartbeat, type Observation } from '@drc/contracts';
import { encodeJson, jetStreamOf } from '@drc/runtime';
import { eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../test-coordinator.fixture';

/**
 * Chaos seed 1902: a coordinator took the lead, found site fra lost and started failing its
 * primary over; 5 ms later an observation fra had sent before it went dark (redelivered from the
 * durable consumer) said the primary was healthy, the failover was called off, and since a dark
 * site sends nothing more, the workload stayed on the lost site. A lost site's reports count
 * again only after its own heartbeat.
 */
describe('invariant - a lost site stays lost until its own heartbeat', () => {
  let t: TestCoordinator;
  const beats = new Set(['A', 'B', 'C']);
  let seq = 0;
  let timer: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    t = await startTestCoordinator('lostrep', {
      coordinator: { startupGraceMs: 0, siteLeaseTtlMs: 1000 },
      defaults: { policy: { debounceMs: 1500, fenceMarginMs: 200 } },
      sites: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
      workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
    });
    const beat = () => {
      for (const s of beats) {
        const peers = Object.fromEntries(['A', 'B', 'C'].filter((p) => p !== s).map((p) => [p, beats.has(p)]));
        const hb: Heartbeat = { kind: 'heartbeat', v: 1, siteId: s, agentId: `${s}@t`, incarnation: { id: 'run-1', startedAt: 1 }, seq: ++seq, sentAt: Date.now(), leaseTtlMs: 1000, peers };
        t.nc.publish(t.subjects.heartbeat(s), encodeJson(hb));
      }
    };
    beat();
    timer = setInterval(beat, 200);
  });

  afterAll(async () => {
    if (timer) clearInterval(timer);
    await t?.stop();
  });

  const observation = (site: string, role: 'primary' | 'replica', healthy: boolean, observedAt: number): Observation => ({
    kind: 'observation', v: 1, siteId: site, agentId: `${site}@t`, incarnation: { id: 'run-1', startedAt: 1 }, seq: ++seq, observedAt,
    workloads: [{ workloadId: 'w1', role, healthy, replication: { position: String(observedAt), lagSeconds: 0.1, lagBytes: 0 } }],
  });

  it("a healthy report the lost site wrote before it went dark does not call off its primary's failover", async () => {
    const { coordinator, store, nc, subjects } = t;
    const js = jetStreamOf(nc);
    await js.publish(subjects.observation('A'), encodeJson(observation('A', 'primary', true, Date.now())));
    await js.publish(subjects.observation('B'), encodeJson(observation('B', 'replica', true, Date.now())));
    await eventually(() => coordinator.siteViews().every((s) => s.status === 'up'), 10_000);
    const lastSeenHealthy = Date.now();

    beats.delete('A'); // site A goes dark; B and C no longer reach it
    await eventually(() => coordinator.siteViews().find((s) => s.siteId === 'A')?.status === 'lost', 10_000);
    await eventually(() => coordinator.workloadView('w1')?.state === 'suspect', 5_000);

    // The report A sent just before it went dark arrives now (a redelivered backlog).
    await js.publish(subjects.observation('A'), encodeJson(observation('A', 'primary', true, lastSeenHealthy)));
    // The debounce (1.5 s) runs out and the failover starts (no agent answers here, so it goes no
    // further than its first commands); called off, the workload would sit in protected on A.
    const types = async () => (await store.readStream(workloadStream('w1'))).map((e) => e.type);
    await eventually(async () => (await types()).includes('FailoverStarted'), 10_000).catch(async (e: unknown) => {
      throw new Error(`${String(e)}: state ${coordinator.workloadView('w1')?.state}, stream ${(await types()).join(', ')}`);
    });
    expect(await types()).not.toContain('PrimaryRecoveryObserved');
    expect(coordinator.workloadView('w1')?.state).not.toBe('protected');
  });
});
