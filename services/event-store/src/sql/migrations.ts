/**
 * Schema of the SQL event store, as ordered migrations applied by `init()` (idempotent,
 * serialised by an advisory lock so several coordinators can start at once).
 * The same SQL runs on PostgreSQL 15 and on PGlite.
 */
export const MIGRATIONS: ReadonlyArray<{ id: string; sql: string }> = [
  {
    id: '0001_events',
    sql: `
CREATE TABLE IF NOT EXISTS drc_streams (
  stream     text PRIMARY KEY,
  version    integer NOT NULL,
  last_hash  text NOT NULL
);
CREATE TABLE IF NOT EXISTS drc_events (
  global_position bigserial PRIMARY KEY,
  -- the writing transaction: readers only go past transactions that can no longer commit,
  -- so an event committed "late" with a lower position is never skipped
  transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
  stream          text NOT NULL,
  position        integer NOT NULL,
  event_id        text NOT NULL,
  type            text NOT NULL,
  data            jsonb NOT NULL,
  metadata        jsonb NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  hash            text NOT NULL,
  prev_hash       text NOT NULL,
  CONSTRAINT drc_events_stream_position UNIQUE (stream, position),
  CONSTRAINT drc_events_event_id UNIQUE (event_id)
);
CREATE INDEX IF NOT EXISTS drc_events_global_order ON drc_events (transaction_id, global_position);
CREATE TABLE IF NOT EXISTS drc_snapshots (
  stream    text PRIMARY KEY,
  version   integer NOT NULL,
  state     jsonb NOT NULL,
  schema    text NOT NULL,
  saved_at  timestamptz NOT NULL DEFAULT now()
);
`,
  },
];
