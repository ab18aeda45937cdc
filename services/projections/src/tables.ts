import { bigint, doublePrecision, integer, pgSchema, primaryKey, text } from 'drizzle-orm/pg-core';

/**
 * The read models, in a PostgreSQL schema of their own (default `drc_read`) so that a rebuild can
 * write a second copy beside the live one and the two can be compared row for row. Every column
 * is derived from the event log alone (times are the events' own `at`, never the clock of the
 * projector), so a rebuild from zero gives identical rows.
 */
export function projectionTables(schemaName: string) {
  const schema = pgSchema(schemaName);
  const workloads = schema.table('workloads', {
    workloadId: text('workload_id').primaryKey(),
    state: text('state').notNull(),
    epoch: integer('epoch').notNull(),
    primarySite: text('primary_site').notNull(),
    lastTransitionAt: bigint('last_transition_at', { mode: 'number' }).notNull(),
    failovers: integer('failovers').notNull(),
    /** Position of the event that last changed this row (replica reports change nothing here). */
    changedAt: integer('changed_at_position').notNull(),
  });
  const failovers = schema.table(
    'failovers',
    {
      workloadId: text('workload_id').notNull(),
      streamPosition: integer('stream_position').notNull(),
      fromSite: text('from_site').notNull(),
      toSite: text('to_site').notNull(),
      epoch: integer('epoch').notNull(),
      startedAt: bigint('started_at', { mode: 'number' }).notNull(),
      completedAt: bigint('completed_at', { mode: 'number' }).notNull(),
      rtoMs: doublePrecision('rto_ms').notNull(),
      dataLossSeconds: doublePrecision('data_loss_seconds'),
    },
    (t) => [primaryKey({ columns: [t.workloadId, t.streamPosition] })],
  );
  const checkpoints = schema.table('checkpoints', {
    name: text('name').primaryKey(),
    /** The event store's resume token of the last event applied (empty: none yet). */
    checkpoint: text('checkpoint').notNull(),
    events: bigint('events', { mode: 'number' }).notNull(),
  });
  return { schema, workloads, failovers, checkpoints };
}
export type ProjectionTables = ReturnType<typeof projectionTables>;

/** The DDL of the tables above (idempotent). Kept beside them: every query goes through the drizzle tables, so a column missing here fails the projector tests. */
export function projectionDdl(schemaName: string): string[] {
  const s = `"${schemaName}"`;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${s}`,
    `CREATE TABLE IF NOT EXISTS ${s}.workloads (workload_id text PRIMARY KEY, state text NOT NULL, epoch integer NOT NULL, primary_site text NOT NULL, last_transition_at bigint NOT NULL, failovers integer NOT NULL, changed_at_position integer NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${s}.failovers (workload_id text NOT NULL, stream_position integer NOT NULL, from_site text NOT NULL, to_site text NOT NULL, epoch integer NOT NULL, started_at bigint NOT NULL, completed_at bigint NOT NULL, rto_ms double precision NOT NULL, data_loss_seconds double precision, PRIMARY KEY (workload_id, stream_position))`,
    `CREATE TABLE IF NOT EXISTS ${s}.checkpoints (name text PRIMARY KEY, checkpoint text NOT NULL, events bigint NOT NULL)`,
  ];
}
