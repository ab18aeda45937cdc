import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { Subjects } from '@drc/contracts';
import { durableConsumer, ensureStreams, pullOptions } from './nats';
import { LeaseConflictError, type Bus, type BusConsumption, type BusMessage, type LeaseEntry, type LeaseStore, type PublishOptions } from './ports';

/**
 * The production shells of the Bus and LeaseStore ports (issue 18): NATS, JetStream and NATS KV.
 * Everything NATS-specific a core used to do itself is here, once, so the coordinator and agent
 * cores run unchanged over the simulator's ports.
 */

/** Pure. A record of a NATS message's headers (undefined when it has none). */
function recordOf(h: MsgHdrs | undefined): Record<string, string> | undefined {
  if (!h) return undefined;
  const out: Record<string, string> = {};
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

/** Pure. NATS headers from a record (undefined when there is nothing to send). */
function natsHeadersOf(record: Readonly<Record<string, string>> | undefined): MsgHdrs | undefined {
  if (!record) return undefined;
  const keys = Object.keys(record);
  if (keys.length === 0) return undefined;
  const h = natsHeaders();
  for (const k of keys) h.set(k, record[k]!);
  return h;
}

/**
 * Not pure. The Bus over one NATS connection: `publish` is a JetStream publish (resolves on the
 * stream's ack; `msgId` becomes Nats-Msg-Id, so a re-send inside the duplicate window is stored
 * once), `publishVolatile`/`subscribe` are core NATS (heartbeats), `consume` is a durable pull
 * consumer with explicit ack (created if missing) and `ensureStreams` creates drc's streams.
 */
export function createNatsBus(nc: NatsConnection): Bus {
  const js = jetstream(nc);
  return {
    async publish(subject: string, data: Uint8Array, opts?: PublishOptions): Promise<void> {
      const h = natsHeadersOf(opts?.headers);
      await js.publish(subject, data, { ...(opts?.msgId !== undefined ? { msgID: opts.msgId } : {}), ...(h ? { headers: h } : {}) });
    },
    publishVolatile(subject, data, opts) {
      const h = natsHeadersOf(opts?.headers);
      nc.publish(subject, data, h ? { headers: h } : undefined);
    },
    subscribe(subject, handler) {
      const sub = nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          handler(msg.subject, msg.data, recordOf(msg.headers));
        },
      });
      return () => sub.unsubscribe();
    },
    async consume(stream, durable, opts): Promise<BusConsumption> {
      const consumer = await durableConsumer(nc, stream, durable, { ackWaitMs: opts.ackWaitMs, ...(opts.filterSubjects?.length === 1 ? { filter: opts.filterSubjects[0]! } : {}) });
      const messages = await consumer.consume(pullOptions(opts.maxMessages ?? 512));
      return {
        async close() {
          await messages.close();
        },
        async *[Symbol.asyncIterator](): AsyncIterator<BusMessage> {
          for await (const m of messages) {
            const headers = recordOf(m.headers);
            yield {
              subject: m.subject,
              data: m.data,
              ...(headers ? { headers } : {}),
              redelivered: m.redelivered,
              ack: () => m.ack(),
              nak: (delayMs?: number) => m.nak(delayMs),
            };
          }
        },
      };
    },
    async ensureStreams(subjects: Subjects, opts?: { replicas?: number }): Promise<void> {
      await ensureStreams(nc, subjects, opts?.replicas !== undefined ? { replicas: opts.replicas } : {});
    },
  };
}

export interface NatsLeaseStoreOptions {
  /** KV bucket name (one per subject prefix, so tests and estates are isolated). */
  bucket: string;
  /** Cluster servers holding the bucket (3 on a 3-node cluster, so one node lost stops nothing). */
  replicas?: number;
  /** A lease request unanswered this long fails (and the caller's next round sends it again). */
  requestTimeoutMs: number;
}

/** Pure. A KV error that means "the revision named is not the key's": a lost compare-and-set. */
function asLeaseError(e: unknown): unknown {
  const message = String((e as Error | undefined)?.message ?? e);
  return /wrong last sequence/i.test(message) ? new LeaseConflictError(message, { cause: e }) : e;
}

/**
 * Not pure. A LeaseStore over a NATS KV bucket. `open()` creates the bucket with the client's
 * default timeout (a replicated bucket can take seconds to make) and then uses it through a
 * client that gives up on a lease request after `requestTimeoutMs`: the JetStream client's own
 * default (5 s) is longer than a lease is valid (chaos seed 38006). Deleted or purged keys read
 * as absent; a revision conflict fails with a LeaseConflictError.
 */
export function createNatsLeaseStore(nc: NatsConnection, opts: NatsLeaseStoreOptions): LeaseStore {
  let kv: KV | undefined;
  const opened = (): KV => {
    if (!kv) throw new Error(`lease store ${opts.bucket} used before open()`);
    return kv;
  };
  return {
    async open() {
      await new Kvm(nc).create(opts.bucket, { history: 1, replicas: opts.replicas ?? 1 });
      kv = await new Kvm(jetstream(nc, { timeout: opts.requestTimeoutMs })).open(opts.bucket);
    },
    async get(key): Promise<LeaseEntry | null> {
      const entry = await opened().get(key);
      if (!entry || entry.operation !== 'PUT') return null;
      return { value: entry.value, revision: entry.revision };
    },
    async create(key, value) {
      try {
        return await opened().create(key, value);
      } catch (e) {
        throw asLeaseError(e);
      }
    },
    async update(key, value, revision) {
      try {
        return await opened().update(key, value, revision);
      } catch (e) {
        throw asLeaseError(e);
      }
    },
    async delete(key) {
      await opened().delete(key);
    },
  };
}
