/**
 * The ports the coordinator and agent cores talk to (issue 18). A core reaches the world only
 * through these: production shells implement them over NATS, PostgreSQL, the OS clock and
 * crypto; the simulator (services/simulator) implements them over simulated time and network,
 * so the same core code runs in both. Every method a core needs goes here first; a core that
 * calls Date.now, setTimeout, Math.random, randomUUID or a NATS client directly cannot be
 * simulated deterministically.
 */
import type { Subjects } from '@drc/contracts';

/** An opaque timer handle (a number in the simulator, a NodeJS.Timeout in production). */
export type TimerHandle = { readonly __timer: unique symbol } | number | object;

/** Time, as the process sees it (a simulated process may be skewed or drifting). */
export interface Clock {
  /** Milliseconds since the epoch, as this process's clock says. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
  /** Lets other work run before continuing (setImmediate in production, a zero-delay step in the simulator). */
  yield(): Promise<void>;
  /** Resolves after `ms` (a timer; never a busy wait). */
  sleep(ms: number): Promise<void>;
  /**
   * Optional. A monotonic reading in ms with sub-ms resolution, for measuring durations (append
   * latency); `now()` is used when absent. Never compared with `now()`.
   */
  monotonicMs?(): number;
}

/** Randomness: seeded in the simulator, crypto in production. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An RFC 4122 v4-shaped id. */
  uuid(): string;
}

/** One message taken from a durable, acknowledged stream (JetStream consumer). */
export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Headers as plain strings (trace context, message id). */
  readonly headers?: Readonly<Record<string, string>>;
  /** True when this message was delivered before and not acknowledged. */
  readonly redelivered: boolean;
  ack(): void;
  /** Not handled here: deliver again later (to this or another consumer). */
  nak(delayMs?: number): void;
}

/** A running consumption; `close()` stops it and leaves unacknowledged messages for redelivery. */
export interface BusConsumption extends AsyncIterable<BusMessage> {
  close(): Promise<void>;
}

export interface PublishOptions {
  /** A de-duplication id (JetStream Nats-Msg-Id): the same id within the window is stored once. */
  msgId?: string;
  headers?: Readonly<Record<string, string>>;
}

/** The message bus as a core sees it (NATS + JetStream in production). */
export interface Bus {
  /** Publishes to a stream and resolves once the stream has stored it (the publish ack). */
  publish(subject: string, data: Uint8Array, opts?: PublishOptions): Promise<void>;
  /** Fire-and-forget (core NATS): heartbeats, which are worthless once late. */
  publishVolatile(subject: string, data: Uint8Array, opts?: Pick<PublishOptions, 'headers'>): void;
  /** Subscribes to volatile messages (no ack, no redelivery). Returns an unsubscribe. */
  subscribe(subject: string, handler: (subject: string, data: Uint8Array, headers?: Readonly<Record<string, string>>) => void): () => void;
  /** Consumes a durable consumer of a stream, with ack and redelivery after `ackWaitMs`. */
  consume(stream: string, durable: string, opts: { ackWaitMs: number; filterSubjects?: string[]; maxMessages?: number }): Promise<BusConsumption>;
  /**
   * Optional. Makes sure the streams under `subjects`' prefix exist (JetStream streams in
   * production; a simulated bus has them from the start). Idempotent.
   */
  ensureStreams?(subjects: Subjects, opts?: { replicas?: number }): Promise<void>;
}

/** One stored entry of a lease key. */
export interface LeaseEntry {
  value: Uint8Array;
  /** Increases with every write of the store (a KV revision). */
  revision: number;
}

/**
 * A compare-and-set key-value store for leases (NATS KV in production). Every call may fail (the
 * store unreachable, a timeout): callers treat a failure as "unknown", never as success.
 */
export interface LeaseStore {
  /** Optional. Creates or opens the store (the KV bucket); throws when it cannot. Called once before use. */
  open?(): Promise<void>;
  get(key: string): Promise<LeaseEntry | null>;
  /** Creates the key; fails if it exists. Resolves to the new revision. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Writes the key only if its current revision is `revision`; otherwise fails with a LeaseConflictError. */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  /** Removes the key (a released lease may also be written as a value instead). */
  delete(key: string): Promise<void>;
}

/**
 * A compare-and-set of a lease lost to another write: the key's revision was not the one named
 * (or the key existed on create). Every other failure of a LeaseStore is "unknown", not this.
 */
export class LeaseConflictError extends Error {
  readonly code = 'LEASE_CONFLICT' as const;
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LeaseConflictError';
  }
}

/** Pure. Duck-typed: whether `e` is a LeaseConflictError (from any copy of this module). */
export function isLeaseConflictError(e: unknown): e is LeaseConflictError {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'LEASE_CONFLICT';
}

/**
 * Pure. A header carrier (get/set/keys, as the trace propagation reads) over a plain record, so
 * a core hands a BusMessage's headers to `runWithMessageContext` and `traceHeaders`.
 */
export function recordHeaders(record: Record<string, string> = {}): { get(key: string): string; set(key: string, value: string): void; keys(): string[]; record: Record<string, string> } {
  return {
    get: (k) => record[k] ?? '',
    set: (k, v) => {
      record[k] = v;
    },
    keys: () => Object.keys(record),
    record,
  };
}

/** The production clock: the OS's. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  yield: () => new Promise<void>((r) => setImmediate(r)),
  sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
  monotonicMs: () => performance.now(),
};

/** The production randomness: crypto's. */
export const systemRandom: Random = {
  next: () => Math.random(),
  uuid: () => globalThis.crypto.randomUUID(),
};
