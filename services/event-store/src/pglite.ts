import { PGlite, type Transaction } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { MIGRATIONS_FOLDER } from './postgres';
import type { EventStore } from './port';
import type { SqlExecutor } from './sql/executor';
import { createSqlEventStore } from './sql/sql-event-store';

function executor(db: PGlite | Transaction, root?: PGlite): SqlExecutor {
  return {
    query: async <R>(text: string, params: unknown[] = []) => (await db.query<R>(text, params)).rows,
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) => {
      if (!root) throw new Error('nested transactions are not supported');
      return root.transaction((tx) => fn(executor(tx)));
    },
    ...(root
      ? {
          listen: async (channel: string, onNotify: () => void) => {
            const unsub = await root.listen(channel, () => onNotify());
            return () => unsub();
          },
        }
      : {}),
    migrate: async () => {
      if (!root) throw new Error('migrate needs the database');
      await migrate(drizzle(root), { migrationsFolder: MIGRATIONS_FOLDER });
    },
    close: async () => {
      await root?.close();
    },
  };
}

/**
 * The embedded event store (PGlite: PostgreSQL compiled to WASM), used when no database is
 * configured so the demo and the CLI run on a machine without PostgreSQL. Data lives in
 * `dataDir` (in memory without one). Not pure: owns the embedded database.
 */
export function createPgliteEventStore(opts: { dataDir?: string; pollMs?: number } = {}): EventStore {
  let db: PGlite | undefined;
  const get = (): PGlite => (db ??= new PGlite(opts.dataDir));
  const lazy: SqlExecutor = {
    query: (text, params) => executor(get(), get()).query(text, params),
    transaction: (fn) => executor(get(), get()).transaction(fn),
    listen: (channel, cb) => executor(get(), get()).listen!(channel, cb),
    migrate: () => executor(get(), get()).migrate(),
    close: async () => {
      await db?.close();
      db = undefined;
    },
  };
  return createSqlEventStore('pglite', lazy, { pollMs: opts.pollMs ?? 200 });
}
