/** Where the test services live. CI and developers' machines run them on loopback. */
export function natsUrl(): string {
  return process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
}

/** The PostgreSQL server used for event stores and projections in tests (database `test`). */
export function adminDatabaseUrl(): string {
  return process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}
