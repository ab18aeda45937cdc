import type { EventMetadata } from '@drc/contracts';

/**
 * The event store port. Every adapter (PostgreSQL, PGlite, EventStoreDB) implements it and
 * passes the same contract suite (`./testing`). Streams are append-only; positions in a
 * stream start at 1; a stream's version is the position of its last event (0: no events).
 */

/** An event to append. `id` is unique across the store: re-appending the same ids is a no-op. */
export interface NewEvent<D = unknown> {
  id: string;
  type: string;
  data: D;
  metadata: EventMetadata;
}

export interface StoredEvent<D = unknown> {
  id: string;
  stream: string;
  /** 1-based position in its stream. */
  position: number;
  /** Order in the global log (adapter-specific but strictly increasing in read order). */
  globalPosition: bigint;
  /** Opaque resume token for readAll/subscribeAll: read "after" this event. */
  checkpoint: string;
  type: string;
  data: D;
  metadata: EventMetadata;
  recordedAt: Date;
  /** Hash chain: sha256 hex of (prevHash, canonical bytes of stream, position, type, data, metadata). */
  hash: string;
  prevHash: string;
}

/**
 * Expected version of a stream for an append:
 * - a number: the stream's current version must equal it (0 = the stream must not exist yet);
 * - 'any': no check; 'no_stream': same as 0; 'stream_exists': at least one event.
 */
export type ExpectedVersion = number | 'any' | 'no_stream' | 'stream_exists';

export interface AppendResult {
  /** The stream's version after the append (use it as the next expected version). */
  nextExpectedVersion: number;
  /** True when every event id was already stored at the same positions (idempotent retry). */
  duplicate: boolean;
}

export interface ReadStreamOptions {
  /** First position to read (forwards) or last (backwards). Defaults to the start / the end. */
  fromPosition?: number;
  direction?: 'forwards' | 'backwards';
  maxCount?: number;
}

export interface ReadAllOptions {
  /** Read events after this checkpoint (undefined: from the beginning). */
  after?: string;
  maxCount?: number;
  /** Only streams whose name starts with this prefix (a category such as `workload-`). */
  streamPrefix?: string;
}

export interface Subscription {
  /** Stops delivery; resolves once no handler call is in progress. */
  stop(): Promise<void>;
}

export interface SubscribeOptions extends ReadAllOptions {
  /** Called with events in global order, never skipping one; the next batch waits for it. */
  onEvents(events: StoredEvent[]): Promise<void> | void;
  onError?(error: unknown): void;
}

export interface Snapshot<S = unknown> {
  stream: string;
  /** Stream version the snapshot reflects. */
  version: number;
  state: S;
  /** Free-form: e.g. the statechart version that wrote it. */
  schema: string;
}

export interface EventStore {
  readonly kind: 'postgres' | 'pglite' | 'eventstoredb' | 'memory';
  /** Creates tables / applies migrations. Idempotent. */
  init(): Promise<void>;
  /** Throws WrongExpectedVersionError (code `EVENTSTORE_WRONG_VERSION`) on a version mismatch. */
  append(stream: string, events: NewEvent[], options: { expectedVersion: ExpectedVersion }): Promise<AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): Promise<StoredEvent[]>;
  /** Current version of a stream (0 when it does not exist). */
  streamVersion(stream: string): Promise<number>;
  /** The global log in commit-safe order: a later call never returns an event that sorts before one already returned. */
  readAll(options?: ReadAllOptions): Promise<StoredEvent[]>;
  subscribeAll(options: SubscribeOptions): Subscription;
  /** Names of streams (optionally with a prefix), for audit and rebuilds. */
  listStreams(prefix?: string): Promise<string[]>;
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  loadSnapshot(stream: string): Promise<Snapshot | undefined>;
  close(): Promise<void>;
}
