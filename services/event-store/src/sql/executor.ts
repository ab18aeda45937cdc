/** The minimal SQL surface the event store needs; PostgreSQL (postgres.js) and PGlite both provide it. */
export interface SqlExecutor {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Calls `onNotify` on NOTIFY of the channel; returns an unlisten function. Optional (polling otherwise). */
  listen?(channel: string, onNotify: () => void): Promise<() => Promise<void>>;
  /** Applies the drizzle-kit migrations (serialised across processes by the adapter). */
  migrate(): Promise<void>;
  close(): Promise<void>;
}
