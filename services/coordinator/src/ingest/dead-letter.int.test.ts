import { createSubjects, DeadLetterSchema, parseDrcConfig, workloadStream, type DeadLetter, type DrcConfig } from '@drc/contracts';
import { createPostgresEventStore, type EventStore } from '@drc/event-store';
import { connectNats, createLogger, decodeJson, jetStreamOf, type NatsConnection } from '@drc/runtime';
import { createTestDatabase, deleteStreams, eventually, natsUrl, uniquePrefix, type TestDatabase } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../coordinator';

describe('invariant 7 - bad agent input is dead-lettered with a reason and changes nothing', () => {
  let db: TestDatabase;
  let store: EventStore;
  let nc: NatsConnection;
  let coordinator: Coordinator;
  let config: DrcConfig;
  const prefix = uniquePrefix('dlq');
  const subjects = createSubjects(prefix);
  const letters: DeadLetter[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('dlq');
    const parsed = parseDrcConfig({
      nats: { url: natsUrl(), prefix },
      coordinator: { startupGraceMs: 60_000 },
      sites: [{ id: 'A' }, { id: 'B' }],
      workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    config = parsed.value;
    store = createPostgresEventStore({ url: db.url });
    nc = await connectNats({ url: natsUrl(), name: 'dlq-test' });
    coordinator = new Coordinator({ config, store, nc, logger: createLogger('coordinator-test').child({}, { level: 'silent' }), coordinatorId: 'dlq-coordinator' });
    await coordinator.start();
    nc.subscribe(subjects.deadLetter(), {
      callback: (_err, msg) => {
        letters.push(DeadLetterSchema.parse(decodeJson(msg.data)));
      },
    });
  });

  afterAll(async () => {
    await coordinator?.stop();
    await nc?.close();
    await store?.close();
    await deleteStreams(subjects.streams.agents.replace(/_AGENTS$/, '_'));
    await db?.drop();
  });

  it('rejects bad JSON, wrong schemas, unknown sites, spoofed sites, unknown workloads and replays', async () => {
    const js = jetStreamOf(nc);
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
    const versionBefore = await store.streamVersion(workloadStream('w1'));
    const viewBefore = JSON.stringify(coordinator.workloadView('w1'));
    const obs = (over: Record<string, unknown>) => ({ kind: 'observation', v: 1, siteId: 'A', agentId: 'a', seq: 10, observedAt: Date.now(), workloads: [], ...over });

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
