import { sql } from 'drizzle-orm';
import { bigserial, customType, index, integer, jsonb, pgTable, text, timestamp, unique } from 'drizzle-orm/pg-core';

/**
 * The event store's tables, declared for drizzle-kit (which generates the migrations under
 * services/event-store/drizzle/) and applied by drizzle's migrator on `init()`.
 * The hot paths (append, reads) use hand-written SQL over these tables.
 */
const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });

export const drcStreams = pgTable('drc_streams', {
  stream: text('stream').primaryKey(),
  version: integer('version').notNull(),
  lastHash: text('last_hash').notNull(),
});

export const drcEvents = pgTable(
  'drc_events',
  {
    globalPosition: bigserial('global_position', { mode: 'bigint' }).primaryKey(),
    // The writing transaction: readers only go past transactions that can no longer commit,
    // so an event committed "late" with a lower position is never skipped.
    transactionId: xid8('transaction_id').notNull().default(sql`pg_current_xact_id()`),
    stream: text('stream').notNull(),
    position: integer('position').notNull(),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    data: jsonb('data').notNull(),
    metadata: jsonb('metadata').notNull(),
    recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull().defaultNow(),
    hash: text('hash').notNull(),
    prevHash: text('prev_hash').notNull(),
  },
  (t) => [
    unique('drc_events_stream_position').on(t.stream, t.position),
    unique('drc_events_event_id').on(t.eventId),
    index('drc_events_global_order').on(t.transactionId, t.globalPosition),
  ],
);

export const drcSnapshots = pgTable('drc_snapshots', {
  stream: text('stream').primaryKey(),
  version: integer('version').notNull(),
  state: jsonb('state').notNull(),
  schema: text('schema').notNull(),
  savedAt: timestamp('saved_at', { withTimezone: true }).notNull().defaultNow(),
});
