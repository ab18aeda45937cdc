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
  let opened: Promise<PGlite> | undefined;
  // Same reason as the PostgreSQL adapter: every query of the store has an index giving its
  // order, and a sort chosen on a table without statistics costs a full scan per page.
  const get = (): Promise<PGlite> =>
    (opened ??= (async () => {
      const db = new PGlite(opts.dataDir);
      await db.exec('SET enable_sort = off');
      return db;
    })());
  const lazy: SqlExecutor = {
    query: async (text, params) => {
      const db = await get();
      return executor(db, db).query(text, params);
    },
    transaction: async (fn) => {
      const db = await get();
      return executor(db, db).transaction(fn);
    },
    listen: async (channel, cb) => {
      const db = await get();
      return executor(db, db).listen!(channel, cb);
    },
    migrate: async () => {
      const db = await get();
      return executor(db, db).migrate();
    },
    close: async () => {
      const db = opened;
      opened = undefined;
      if (db) await (await db).close();
    },
  };
  return createSqlEventStore('pglite', lazy, { pollMs: opts.pollMs ?? 200 });
}
