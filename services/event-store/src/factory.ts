import { createEventStoreDbEventStore } from './eventstoredb';
import { createPgliteEventStore } from './pglite';
import type { EventStore } from './port';
import { createPostgresEventStore } from './postgres';

export interface EventStoreConfig {
  /** PostgreSQL connection URL (the default for servers). */
  url?: string;
  /** EventStoreDB / KurrentDB connection string. */
  eventStoreUrl?: string;
  /** Folder of the embedded PGlite store, used when no URL is configured. */
  dataDir?: string;
}

/**
 * Chooses the adapter from configuration: EventStoreDB when its URL is set, else PostgreSQL
 * when a URL is set, else PGlite in `dataDir` (in memory without one). The caller uses only the port.
 */
export function createEventStore(config: EventStoreConfig): EventStore {
  if (config.eventStoreUrl) return createEventStoreDbEventStore({ connectionString: config.eventStoreUrl });
  if (config.url) return createPostgresEventStore({ url: config.url });
  return createPgliteEventStore(config.dataDir !== undefined ? { dataDir: config.dataDir } : {});
}
