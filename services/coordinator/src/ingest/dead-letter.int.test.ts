import { DeadLetterSchema, workloadStream, type DeadLetter } from '@drc/contracts';
import { decodeJson, jetStreamOf } from '@drc/runtime';
import { eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../test-coordinator.fixture';

describe('invariant 7 - bad agent input is dead-lettered with a reason and changes nothing', () => {
  let t: TestCoordinator;
  const letters: DeadLetter[] = [];

  beforeAll(async () => {
    t = await startTestCoordinator('dlq', {
      coordinator: { startupGraceMs: 60_000 },
      sites: [{ id: 'A' }, { id: 'B' }],
      workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
    });
    t.nc.subscribe(t.subjects.deadLetter(), {
      callback: (_err, msg) => {
        letters.push(DeadLetterSchema.parse(decodeJson(msg.data)));
      },
    });
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('rejects bad JSON, wrong schemas, unknown sites, spoofed sites, unknown workloads and replays', async () => {
    const { coordinator, store, nc, subjects } = t;
    const js = jetStreamOf(nc);
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
    const versionBefore = await store.streamVersion(workloadStream('w1'));
    const viewBefore = JSON.stringify(coordinator.workloadView('w1'));
    const obs = (over: Record<string, unknown>) => ({ kind: 'observation', v: 1, siteId: 'A', agentId: 'a', incarnation: { id: 'run-1', startedAt: 1 }, seq: 10, observedAt: Date.now(), workloads: [], ...over });

    await js.publish(subjects.observation('A'), enc('{"kind": "observation", '));
    await js.publish(subjects.observation('A'), enc(obs({ seq: 'x' })));
    await js.publish(subjects.observation('Z'), enc(obs({ siteId: 'Z' })));
    await js.publish(subjects.observation('B'), enc(obs({ siteId: 'A' })));
    await js.publish(subjects.observation('A'), enc(obs({ workloads: [{ workloadId: 'nope', role: 'primary', healthy: false }] })));
    await js.publish(subjects.observation('A'), enc(obs({ seq: 11 })));
    await js.publish(subjects.observation('A'), enc(obs({ seq: 11, workloads: [{ workloadId: 'w1', role: 'primary', healthy: false }] })));
    nc.publish(subjects.heartbeat('A'), enc({ kind: 'heartbeat', v: 1 }));

    await eventually(() => letters.length >= 7, 15_000);
    const reasons = letters.map((l) => l.reason).join('\n');
    expect(reasons).toMatch(/not valid UTF-8 JSON/);
    expect(reasons).toMatch(/schema violation: seq/);
    expect(reasons).toMatch(/unknown site "Z"/);
    expect(reasons).toMatch(/does not match the subject's site "B"/);
    expect(reasons).toMatch(/unknown workload "nope"/);
    expect(reasons).toMatch(/replayed or reordered observation: seq 11/);
    expect(reasons).toMatch(/schema violation: .*siteId/);
    for (const l of letters) expect(l.payloadBytes).toBeGreaterThan(0);

    await coordinator.settled();
    expect(await store.streamVersion(workloadStream('w1'))).toBe(versionBefore);
    expect(JSON.stringify(coordinator.workloadView('w1'))).toBe(viewBefore);
    expect(coordinator.isReady).toBe(true);
  });
});
