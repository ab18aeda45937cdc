import postgres from 'postgres';
import type { EventStore } from './port';
import type { SqlExecutor } from './sql/executor';
import { createSqlEventStore } from './sql/sql-event-store';

type Sql = postgres.Sql | postgres.TransactionSql;

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
    // int8 positions come back as strings and are turned into bigint by the store
  });
  return createSqlEventStore('postgres', executor(sql, sql), opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {});
}
