import { createSubjects, DeadLetterSchema, parseDrcConfig, type DeadLetter } from '@drc/contracts';
import { createPostgresEventStore, type EventStore } from '@drc/event-store';
import { connectNats, createLogger, decodeJson, jetStreamOf, type NatsConnection } from '@drc/runtime';
import { deleteStreams, eventually, natsUrl, startPostgresServer, uniquePrefix, type PostgresServer } from '@drc/test-kit';
import { afterAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../coordinator';

/**
 * A coordinator that wins the lease must act, even when taking up the lead fails at first:
 * otherwise it holds the lease, renews it, and does nothing, so no other coordinator takes
 * over and no failover ever happens (chaos seed 1518: a NATS node killed under the leader made
 * its consumer lookup time out). Here the event store is down when the standby takes over.
 */
describe('coordinator - taking up the lead is tried again until it works', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  it('a standby that wins the lease while PostgreSQL is down starts consuming once it is back', async () => {
    const pg: PostgresServer = await startPostgresServer({ label: 'co-activate' });
    cleanup.push(async () => pg.destroy());
    await pg.sql('CREATE DATABASE drc');
    const prefix = uniquePrefix('activate');
    const subjects = createSubjects(prefix);
    cleanup.push(() => deleteStreams(subjects.streams.agents.replace(/_AGENTS$/, '_')));
    const parsed = parseDrcConfig({ nats: { url: natsUrl(), prefix }, coordinator: { startupGraceMs: 60_000 }, sites: [{ id: 'A' }, { id: 'B' }], workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }] });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const start = async (id: string) => {
      const store: EventStore = createPostgresEventStore({ url: pg.url('drc') });
      const nc: NatsConnection = await connectNats({ url: natsUrl(), name: id });
      const coordinator = new Coordinator({ config: parsed.value, store, nc, logger: createLogger('activate-test').child({}, { level: 'silent' }), coordinatorId: id, leaderTtlMs: 60_000 });
      await coordinator.start();
      cleanup.push(async () => {
        await coordinator.stop();
        await nc.close();
        await store.close();
      });
      return { coordinator, nc };
    };
    const first = await start('first');
    const second = await start('second');
    expect(first.coordinator.isLeader).toBe(true);
    expect(second.coordinator.isLeader).toBe(false);

    const letters: DeadLetter[] = [];
    second.nc.subscribe(subjects.deadLetter(), { callback: (_e, m) => void letters.push(DeadLetterSchema.parse(decodeJson(m.data))) });
    pg.stop('fast');
    await first.coordinator.stop(); // releases the lease: the standby takes it at once
    await eventually(() => second.coordinator.isLeader, 10_000, 50);
    await new Promise((r) => setTimeout(r, 1500)); // its first attempts fail on the store
    pg.start();

    // Consuming again: an observation from an unknown site comes back dead-lettered.
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const js = jetStreamOf(second.nc);
    await eventually(async () => {
      await js.publish(subjects.observation('Z'), enc({ kind: 'observation', v: 1, siteId: 'Z', agentId: 'z', incarnation: { id: 'run-1', startedAt: 1 }, seq: Date.now(), observedAt: Date.now(), workloads: [] }));
      await new Promise((r) => setTimeout(r, 300));
      return letters.some((l) => /unknown site "Z"/.test(l.reason));
    }, 30_000, 200);
    expect(second.coordinator.isLeader).toBe(true);
    expect(second.coordinator.leadership.leaderEpoch).toBeGreaterThan(1);
  });
});
