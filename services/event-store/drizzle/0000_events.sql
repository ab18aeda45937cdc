CREATE TABLE "drc_events" (
	"global_position" bigserial PRIMARY KEY NOT NULL,
	"transaction_id" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"stream" text NOT NULL,
	"position" integer NOT NULL,
	"event_id" text NOT NULL,
	"type" text NOT NULL,
	"data" jsonb NOT NULL,
	"metadata" jsonb NOT NULL,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL,
	"hash" text NOT NULL,
	"prev_hash" text NOT NULL,
	CONSTRAINT "drc_events_stream_position" UNIQUE("stream","position"),
	CONSTRAINT "drc_events_event_id" UNIQUE("event_id")
);
--> statement-breakpoint
CREATE TABLE "drc_snapshots" (
	"stream" text PRIMARY KEY NOT NULL,
	"version" integer NOT NULL,
	"state" jsonb NOT NULL,
	"schema" text NOT NULL,
	"saved_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "drc_streams" (
	"stream" text PRIMARY KEY NOT NULL,
	"version" integer NOT NULL,
	"last_hash" text NOT NULL
);
--> statement-breakpoint
CREATE INDEX "drc_events_global_order" ON "drc_events" USING btree ("transaction_id","global_position");