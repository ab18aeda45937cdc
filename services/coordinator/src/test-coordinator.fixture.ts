import { createSubjects, parseDrcConfig, type DrcConfig, type DrcConfigInput, type Subjects } from '@drc/contracts';
import { createPostgresEventStore, type EventStore } from '@drc/event-store';
import { connectNats, createLogger, type NatsConnection } from '@drc/runtime';
import { createTestDatabase, deleteStreams, natsUrl, uniquePrefix } from '@drc/test-kit';
import { Coordinator } from './coordinator';

export interface TestCoordinator {
  coordinator: Coordinator;
  store: EventStore;
  nc: NatsConnection;
  config: DrcConfig;
  subjects: Subjects;
  stop(): Promise<void>;
}

/**
 * Not pure. An in-process coordinator for integration tests, on the real NATS server (a unique
 * subject prefix) and a real PostgreSQL event store: a fresh database, or `databaseUrl` (e.g. a
 * private server the test restarts). `stop()` removes the database and the streams.
 */
export async function startTestCoordinator(label: string, config: Omit<DrcConfigInput, 'nats'>, opts: { databaseUrl?: string; leaderTtlMs?: number } = {}): Promise<TestCoordinator> {
  const prefix = uniquePrefix(label);
  const subjects = createSubjects(prefix);
  const db = opts.databaseUrl ? undefined : await createTestDatabase(label);
  const parsed = parseDrcConfig({ ...config, nats: { url: natsUrl(), prefix } });
  if (!parsed.ok) throw new Error(`test config: ${JSON.stringify(parsed.issues)}`);
  const store = createPostgresEventStore({ url: opts.databaseUrl ?? db!.url });
  const nc = await connectNats({ url: natsUrl(), name: `${label}-test` });
  const coordinator = new Coordinator({
    config: parsed.value,
    store,
    nc,
    logger: createLogger('coordinator-test').child({}, { level: 'silent' }),
    coordinatorId: `${label}-coordinator`,
    leaderTtlMs: opts.leaderTtlMs ?? 60_000,
  });
  await coordinator.start();
  return {
    coordinator,
    store,
    nc,
    config: parsed.value,
    subjects,
    async stop() {
      await coordinator.stop();
      await nc.close();
      await store.close();
      await deleteStreams(subjects.streams.agents.replace(/_AGENTS$/, '_'));
      await db?.drop();
    },
  };
}
