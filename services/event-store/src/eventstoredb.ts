import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamNotFoundError,
  WrongExpectedVersionError as EsdbWrongVersion,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type Position,
  type ResolvedEvent,
} from '@eventstore/db-client';
import type { EventMetadata } from '@drc/contracts';
import { EventStoreUnavailableError, WrongExpectedVersionError } from './errors';
import { eventHash, GENESIS_HASH } from './hash';
import type { AppendResult, EventStore, ExpectedVersion, Snapshot, StoredEvent, Subscription } from './port';

/** The chain fields drc keeps in each event's metadata (EventStoreDB has no columns for them). */
interface ChainMeta {
  $drc: { hash: string; prevHash: string };
}

const SNAPSHOT_PREFIX = 'drc-snapshot-';

function toRevision(e: ExpectedVersion): AppendExpectedRevision {
  if (e === 'any') return ANY;
  if (e === 'no_stream' || e === 0) return NO_STREAM;
  if (e === 'stream_exists') return STREAM_EXISTS;
  return BigInt(e - 1); // drc positions are 1-based, EventStoreDB revisions 0-based
}

function checkpointOf(p: Position | undefined): string {
  return p ? `${p.commit}:${p.prepare}` : '0:0';
}

function parseCheckpoint(c: string): Position {
  const m = /^(\d+):(\d+)$/.exec(c);
  if (!m) throw new Error(`invalid checkpoint "${c}"`);
  return { commit: BigInt(m[1]!), prepare: BigInt(m[2]!) };
}

function toStored(r: ResolvedEvent | AllStreamResolvedEvent): StoredEvent | undefined {
  const e = r.event;
  if (!e || !e.isJson || e.streamId.startsWith('$') || e.streamId.startsWith(SNAPSHOT_PREFIX)) return undefined;
  const meta = (e.metadata ?? {}) as EventMetadata & Partial<ChainMeta>;
  const { $drc, ...metadata } = meta;
  return {
    id: e.id,
    stream: e.streamId,
    position: Number(e.revision) + 1,
    globalPosition: e.position?.commit ?? 0n,
    checkpoint: checkpointOf(e.position),
    type: e.type,
    data: e.data,
    metadata: metadata as EventMetadata,
    recordedAt: e.created,
    hash: $drc?.hash ?? '',
    prevHash: $drc?.prevHash ?? '',
  };
}

function unavailable(e: unknown): unknown {
  const msg = String((e as Error)?.message ?? e);
  if (/unavailable|ECONNREFUSED|deadline|not leader|connection/i.test(msg)) return new EventStoreUnavailableError(`EventStoreDB unavailable: ${msg}`, { cause: e });
  return e;
}

/**
 * The EventStoreDB / KurrentDB adapter (gRPC client). The hash chain lives in each event's
 * metadata under `$drc`; appends read the stream's last event for its hash, and the expected
 * revision check makes a concurrent writer fail rather than fork the chain (with 'any' the
 * chain is only as good as the absence of concurrent writers: drc never appends with 'any').
 * Not pure: holds a gRPC connection.
 */
export function createEventStoreDbEventStore(opts: { connectionString: string }): EventStore {
  const client = EventStoreDBClient.connectionString(opts.connectionString);

  async function last(stream: string): Promise<StoredEvent | undefined> {
    try {
      for await (const r of client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1 })) return toStored(r);
    } catch (e) {
      if (e instanceof StreamNotFoundError) return undefined;
      throw unavailable(e);
    }
    return undefined;
  }

  const store: EventStore = {
    kind: 'eventstoredb',
    async init() {
      await last('$drc-probe').catch((e: unknown) => {
        throw unavailable(e);
      });
    },
    async append(stream, events, { expectedVersion }): Promise<AppendResult> {
      const tail = await last(stream);
      const version = tail?.position ?? 0;
      if (tail && events.length > 0 && tail.id === events[events.length - 1]!.id) return { nextExpectedVersion: version, duplicate: true };
      let prev = tail?.hash || GENESIS_HASH;
      const data = events.map((e, i) => {
        const position = version + i + 1;
        const hash = eventHash(prev, { stream, position, type: e.type, data: e.data, metadata: e.metadata });
        const chain: ChainMeta = { $drc: { hash, prevHash: prev } };
        prev = hash;
        return jsonEvent({ id: e.id, type: e.type, data: e.data as Record<string, unknown>, metadata: { ...e.metadata, ...chain } });
      });
      try {
        const r = await client.appendToStream(stream, data, { expectedRevision: toRevision(expectedVersion) });
        return { nextExpectedVersion: Number(r.nextExpectedRevision) + 1, duplicate: false };
      } catch (e) {
        if (e instanceof EsdbWrongVersion) {
          const actual = await store.streamVersion(stream);
          throw new WrongExpectedVersionError(stream, typeof expectedVersion === 'number' ? String(expectedVersion) : expectedVersion, actual);
        }
        throw unavailable(e);
      }
    },
    async readStream(stream, options = {}) {
      const backwards = options.direction === 'backwards';
      const out: StoredEvent[] = [];
      try {
        for await (const r of client.readStream(stream, {
          direction: backwards ? BACKWARDS : FORWARDS,
          fromRevision: options.fromPosition !== undefined ? BigInt(options.fromPosition - 1) : backwards ? END : START,
          ...(options.maxCount !== undefined ? { maxCount: options.maxCount } : {}),
        })) {
          const e = toStored(r);
          if (e) out.push(e);
        }
      } catch (e) {
        if (e instanceof StreamNotFoundError) return [];
        throw unavailable(e);
      }
      return out;
    },
    async streamVersion(stream) {
      return (await last(stream))?.position ?? 0;
    },
    async readAll(options = {}) {
      const out: StoredEvent[] = [];
      const after = options.after ? parseCheckpoint(options.after) : undefined;
      try {
        for await (const r of client.readAll({ direction: FORWARDS, fromPosition: after ?? START, maxCount: (options.maxCount ?? 10_000) + 1 })) {
          const e = toStored(r);
          if (!e) continue;
          if (after && e.checkpoint === checkpointOf(after)) continue; // fromPosition is inclusive
          if (options.streamPrefix !== undefined && !e.stream.startsWith(options.streamPrefix)) continue;
          out.push(e);
          if (out.length >= (options.maxCount ?? 10_000)) break;
        }
      } catch (e) {
        throw unavailable(e);
      }
      return out;
    },
    subscribeAll(options): Subscription {
      const sub = client.subscribeToAll({
        fromPosition: options.after ? parseCheckpoint(options.after) : START,
        filter: options.streamPrefix !== undefined ? streamNameFilter({ prefixes: [options.streamPrefix] }) : excludeSystemEvents(),
      });
      const after = options.after;
      const done = (async () => {
        try {
          for await (const r of sub) {
            const e = toStored(r);
            if (!e || e.checkpoint === after) continue;
            await options.onEvents([e]);
          }
        } catch (e) {
          options.onError?.(unavailable(e));
        }
      })();
      return {
        async stop() {
          await sub.unsubscribe();
          await done;
        },
      };
    },
    async listStreams(prefix) {
      const names = new Set<string>();
      for (const e of await store.readAll({ maxCount: 1_000_000 })) if (prefix === undefined || e.stream.startsWith(prefix)) names.add(e.stream);
      return [...names].sort();
    },
    async saveSnapshot(s: Snapshot) {
      const current = await store.loadSnapshot(s.stream);
      if (current && current.version > s.version) return;
      await client.appendToStream(`${SNAPSHOT_PREFIX}${s.stream}`, [jsonEvent({ type: 'Snapshot', data: { version: s.version, state: s.state as Record<string, unknown>, schema: s.schema } })]).catch((e: unknown) => {
        throw unavailable(e);
      });
    },
    async loadSnapshot(stream) {
      try {
        for await (const r of client.readStream(`${SNAPSHOT_PREFIX}${stream}`, { direction: BACKWARDS, fromRevision: END, maxCount: 1 })) {
          const d = r.event?.data as { version: number; state: unknown; schema: string } | undefined;
          if (d) return { stream, version: d.version, state: d.state, schema: d.schema };
        }
      } catch (e) {
        if (e instanceof StreamNotFoundError) return undefined;
        throw unavailable(e);
      }
      return undefined;
    },
    close: () => client.dispose(),
  };
  return store;
}
