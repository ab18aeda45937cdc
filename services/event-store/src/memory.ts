import { EventMetadataSchema, type EventMetadata } from '@drc/contracts';
import { DuplicateEventIdError, EventStoreUnavailableError, WrongExpectedVersionError } from './errors';
import { eventHash, GENESIS_HASH } from './hash';
import type { AppendResult, EventStore, ExpectedVersion, NewEvent, ReadAllOptions, Snapshot, StoredEvent, SubscribeOptions, Subscription } from './port';

/** The stored data, shareable by several store handles (coordinator processes on one database). */
export interface MemoryEventData {
  readonly streams: Map<string, StoredEvent[]>;
  readonly byId: Map<string, StoredEvent>;
  readonly log: StoredEvent[];
  readonly snapshots: Map<string, Snapshot>;
  /** Wake-ups of every handle's subscriptions (the NOTIFY of this store). */
  readonly subscribers: Set<() => void>;
}

/** Pure. Empty data for one or more memory store handles. */
export function createMemoryEventData(): MemoryEventData {
  return { streams: new Map(), byId: new Map(), log: [], snapshots: new Map(), subscribers: new Set() };
}

export interface MemoryEventStoreOptions {
  /** Data shared with other handles (a second coordinator on the same database); fresh when absent. */
  data?: MemoryEventData;
  /** The clock `recordedAt` reads (the simulator passes a process's simulated clock). */
  now?: () => number;
  /**
   * Awaited before every call reaches the data (the simulator waits simulated latency here, and
   * may throw to model an outage; a throw is surfaced as EventStoreUnavailableError).
   */
  beforeCall?: (op: 'append' | 'read' | 'snapshot') => Promise<void> | void;
}

/**
 * An event store held in this process's memory: the same contract as the PostgreSQL, PGlite and
 * EventStoreDB adapters (one global order, expected versions, idempotent retries by event id,
 * hash chains, snapshots), with no I/O. For the simulator and for tests; everything is lost
 * with the process (or with the `data` it shares). Data and metadata are stored as JSON copies, as a database would store them.
 */
export function createMemoryEventStore(opts: MemoryEventStoreOptions = {}): EventStore {
  const now = opts.now ?? (() => Date.now());
  const { streams, byId, log, snapshots, subscribers } = opts.data ?? createMemoryEventData();
  /** This handle's subscriptions (close wakes only these). */
  const mine = new Set<() => void>();
  let closed = false;

  const gate = async (op: 'append' | 'read' | 'snapshot') => {
    if (closed) throw new EventStoreUnavailableError('event store closed');
    if (!opts.beforeCall) return;
    try {
      await opts.beforeCall(op);
    } catch (e) {
      throw e instanceof EventStoreUnavailableError ? e : new EventStoreUnavailableError(`event store unavailable: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
  };

  const versionOf = (stream: string) => streams.get(stream)?.length ?? 0;
  const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v ?? null)) as T;
  const label = (e: ExpectedVersion) => (typeof e === 'number' ? String(e) : e);

  /** A retried append (the same ids, already in this stream) is a no-op; ids stored elsewhere are an error. */
  function duplicateOf(stream: string, events: NewEvent[]): AppendResult | undefined {
    const found = events.map((e) => byId.get(e.id)).filter((e): e is StoredEvent => e !== undefined);
    if (found.length === 0) return undefined;
    if (found.length !== events.length || found.some((e) => e.stream !== stream)) throw new DuplicateEventIdError(found.map((e) => e.id));
    return { nextExpectedVersion: versionOf(stream), duplicate: true };
  }

  const store: EventStore = {
    kind: 'memory',
    async init() {},

    async append(stream, events, { expectedVersion }) {
      for (const e of events) EventMetadataSchema.parse(e.metadata);
      await gate('append');
      // From here to the end nothing awaits: the check and the write are one atomic step.
      const version = versionOf(stream);
      if (events.length === 0) return { nextExpectedVersion: version, duplicate: false };
      const exp = expectedVersion === 'no_stream' ? 0 : expectedVersion;
      const ok = exp === 'any' || (exp === 'stream_exists' ? version > 0 : exp === version);
      const dup = duplicateOf(stream, events);
      if (dup) return dup;
      if (!ok) throw new WrongExpectedVersionError(stream, label(expectedVersion), version);
      const list = streams.get(stream) ?? [];
      let prev = list.at(-1)?.hash ?? GENESIS_HASH;
      const recordedAt = new Date(now());
      for (const [i, e] of events.entries()) {
        const position = version + i + 1;
        const data = copy(e.data);
        const metadata = copy(e.metadata) as EventMetadata;
        const hash = eventHash(prev, { stream, position, type: e.type, data, metadata });
        const globalPosition = BigInt(log.length + 1);
        const stored: StoredEvent = { id: e.id, stream, position, globalPosition, checkpoint: String(globalPosition), type: e.type, data, metadata, recordedAt, hash, prevHash: prev };
        list.push(stored);
        log.push(stored);
        byId.set(e.id, stored);
        prev = hash;
      }
      streams.set(stream, list);
      for (const wake of subscribers) wake();
      return { nextExpectedVersion: list.length, duplicate: false };
    },

    async readStream(stream, options = {}) {
      await gate('read');
      const list = streams.get(stream) ?? [];
      const max = options.maxCount ?? Number.POSITIVE_INFINITY;
      if (options.direction === 'backwards') {
        const from = Math.min(options.fromPosition ?? list.length, list.length);
        const out: StoredEvent[] = [];
        for (let p = from; p >= 1 && out.length < max; p--) out.push(list[p - 1]!);
        return out;
      }
      const from = Math.max(1, options.fromPosition ?? 1);
      return list.slice(from - 1, from - 1 + Math.min(max, list.length));
    },

    async streamVersion(stream) {
      await gate('read');
      return versionOf(stream);
    },

    async readAll(options: ReadAllOptions = {}) {
      await gate('read');
      return readAllNow(options);
    },

    subscribeAll(options: SubscribeOptions): Subscription {
      let checkpoint = options.after;
      let stopped = false;
      let wake: (() => void) | undefined;
      const nudge = () => wake?.();
      subscribers.add(nudge);
      mine.add(nudge);
      const loop = (async () => {
        while (!stopped) {
          try {
            await gate('read');
            const batch = readAllNow({ ...(checkpoint !== undefined ? { after: checkpoint } : {}), maxCount: options.maxCount ?? 1000, ...(options.streamPrefix !== undefined ? { streamPrefix: options.streamPrefix } : {}) });
            if (batch.length > 0) {
              await options.onEvents(batch);
              checkpoint = batch[batch.length - 1]!.checkpoint;
              continue;
            }
          } catch (e) {
            options.onError?.(e);
          }
          if (stopped) break;
          // Woken by the next append (no polling: nothing happens in memory without one).
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      })();
      return {
        async stop() {
          stopped = true;
          subscribers.delete(nudge);
          mine.delete(nudge);
          wake?.();
          await loop;
        },
      };
    },

    async listStreams(prefix) {
      await gate('read');
      return [...streams.keys()].filter((s) => prefix === undefined || s.startsWith(prefix)).sort();
    },

    async saveSnapshot(s) {
      await gate('snapshot');
      const old = snapshots.get(s.stream);
      if (old && old.version > s.version) return;
      snapshots.set(s.stream, copy(s));
    },

    async loadSnapshot(stream) {
      await gate('snapshot');
      const s = snapshots.get(stream);
      return s ? copy(s) : undefined;
    },

    async close() {
      closed = true;
      for (const wake of mine) wake();
    },
  };

  function readAllNow(options: ReadAllOptions): StoredEvent[] {
    let from = 0;
    if (options.after !== undefined) {
      if (!/^\d+$/.test(options.after)) throw new Error(`invalid checkpoint "${options.after}"`);
      from = Number(options.after);
    }
    const max = Math.max(1, Math.floor(options.maxCount ?? 10_000));
    const out: StoredEvent[] = [];
    for (let i = from; i < log.length && out.length < max; i++) {
      const e = log[i]!;
      if (options.streamPrefix === undefined || e.stream.startsWith(options.streamPrefix)) out.push(e);
    }
    return out;
  }

  return store;
}
