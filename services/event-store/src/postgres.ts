import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { EventStore } from './port';
import type { SqlExecutor } from './sql/executor';
import { createSqlEventStore } from './sql/sql-event-store';

type Sql = postgres.Sql | postgres.TransactionSql;

/** drizzle-kit's output, shared by the PostgreSQL and PGlite adapters. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url));
const MIGRATION_LOCK = 4242001;

function executor(sql: Sql, root?: postgres.Sql): SqlExecutor {
  return {
    query: async <R>(text: string, params: unknown[] = []) => (await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as R[],
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) => {
      if (!root) throw new Error('nested transactions are not supported');
      return root.begin((tx) => fn(executor(tx))) as Promise<T>;
    },
    ...(root
      ? {
          listen: async (channel: string, onNotify: () => void) => {
            const sub = await root.listen(channel, () => onNotify());
            return () => sub.unlisten();
          },
        }
      : {}),
    migrate: async () => {
      if (!root) throw new Error('migrate needs the pool');
      // A session advisory lock held on one reserved connection while the migrator runs on the
      // pool: coordinators starting together migrate one at a time.
      const conn = await root.reserve();
      try {
        await conn.unsafe(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
        await migrate(drizzle(root), { migrationsFolder: MIGRATIONS_FOLDER });
      } finally {
        await conn.unsafe(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`).catch(() => undefined);
        conn.release();
      }
    },
    close: async () => {
      await root?.end({ timeout: 5 });
    },
  };
}

/**
 * The PostgreSQL event store (the default for servers). Not pure: opens a connection pool.
 * `init()` applies the schema migrations. Connection trouble surfaces as the retryable
 * EventStoreUnavailableError; postgres.js reconnects on the next call.
 */
export function createPostgresEventStore(opts: { url: string; maxConnections?: number; pollMs?: number }): EventStore {
  const sql = postgres(opts.url, {
    max: opts.maxConnections ?? 10,
    onnotice: () => {},
    connect_timeout: 5,
    idle_timeout: 60,
    // Every query of the store has an index giving its order; on a young table without
    // statistics the planner otherwise sorts the whole log for each page (measured 15x slower).
    connection: { enable_sort: 'off' },
    // int8 positions come back as strings and are turned into bigint by the store
  });
  return createSqlEventStore('postgres', executor(sql, sql), opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {});
}
