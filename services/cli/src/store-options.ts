import type { Command } from 'commander';

export interface StoreOptions {
  databaseUrl?: string;
  dataDir?: string;
  eventstoreUrl?: string;
}

/** Adds the options that choose an event store, with the same environment fallbacks as the coordinator. */
export function withStoreOptions(cmd: Command): Command {
  return cmd
    .option('--database-url <url>', 'PostgreSQL event store [DATABASE_URL]', process.env.DATABASE_URL)
    .option('--data-dir <dir>', 'embedded (PGlite) event store folder when no database URL [DRC_DATA_DIR]', process.env.DRC_DATA_DIR ?? '.drc-data/eventstore')
    .option('--eventstore-url <url>', 'EventStoreDB / KurrentDB connection string [EVENTSTORE_URL]', process.env.EVENTSTORE_URL);
}

export function storeConfig(o: StoreOptions): { url?: string; dataDir?: string; eventStoreUrl?: string } {
  return {
    ...(o.databaseUrl ? { url: o.databaseUrl } : {}),
    ...(o.eventstoreUrl ? { eventStoreUrl: o.eventstoreUrl } : {}),
    ...(o.dataDir ? { dataDir: o.dataDir } : {}),
  };
}
