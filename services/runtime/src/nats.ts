import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Subjects } from '@drc/contracts';
import { DependencyUnavailableError } from './errors';

export type { NatsConnection, JetStreamClient, JetStreamManager };

export interface NatsOptions {
  url: string;
  name: string;
  /** Keep retrying forever after the first successful connect (default true). */
  reconnect?: boolean;
  user?: string;
  pass?: string;
}

/** Connects to NATS. Throws DependencyUnavailableError with a hint when the server cannot be reached. */
export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: opts.url,
      name: opts.name,
      reconnect: opts.reconnect ?? true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 3000,
      ...(opts.user ? { user: opts.user, pass: opts.pass } : {}),
    });
  } catch (e) {
    throw new DependencyUnavailableError(
      'nats',
      opts.url,
      'start one with `nats-server -js -a 127.0.0.1 -p 4222` (Debian package nats-server), or set NATS_URL',
      { cause: e },
    );
  }
}

/**
 * Creates (or updates) the JetStream streams drc uses under a subject prefix. Idempotent.
 * Agents' observations and results, commands, and dead letters each get their own stream.
 */
export async function ensureStreams(nc: NatsConnection, subjects: Subjects, opts: { replicas?: number; maxAgeMs?: number } = {}): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const maxAge = (opts.maxAgeMs ?? 24 * 3600_000) * 1_000_000; // nanoseconds
  const num_replicas = opts.replicas ?? 1;
  const defs = [
    { name: subjects.streams.agents, subjects: [subjects.allObservations(), subjects.allCommandResults()] },
    { name: subjects.streams.commands, subjects: [subjects.allCommands()] },
    { name: subjects.streams.deadLetters, subjects: [subjects.deadLetter()] },
  ];
  for (const d of defs) {
    const config = { name: d.name, subjects: d.subjects, retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: maxAge, num_replicas };
    try {
      await jsm.streams.info(d.name);
      await jsm.streams.update(d.name, { subjects: d.subjects, max_age: maxAge });
    } catch {
      await jsm.streams.add(config);
    }
  }
  return jsm;
}

export function jetStreamOf(nc: NatsConnection): JetStreamClient {
  return jetstream(nc);
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** Pure. JSON to bytes. */
export function encodeJson(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/** Pure. Bytes to JSON; throws on invalid UTF-8 or JSON. */
export function decodeJson(data: Uint8Array): unknown {
  return JSON.parse(dec.decode(data));
}

export { AckPolicy, DeliverPolicy };
export type { JsMsg, ConsumerMessages, Consumer } from '@nats-io/jetstream';
export type { Msg, Subscription as NatsSubscription } from '@nats-io/transport-node';

/**
 * Creates (or updates) a durable pull consumer and returns it. Idempotent; `filter` narrows
 * the stream's subjects. New consumers start with the messages that arrive from now on
 * unless `deliverAll` is set.
 */
export async function durableConsumer(
  nc: NatsConnection,
  stream: string,
  name: string,
  opts: { filter?: string; deliverAll?: boolean; ackWaitMs?: number; maxAckPending?: number } = {},
) {
  const jsm = await jetstreamManager(nc);
  const cfg = {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: opts.deliverAll ? DeliverPolicy.All : DeliverPolicy.New,
    ack_wait: (opts.ackWaitMs ?? 30_000) * 1_000_000,
    max_ack_pending: opts.maxAckPending ?? 10_000,
    ...(opts.filter ? { filter_subject: opts.filter } : {}),
  };
  try {
    await jsm.consumers.info(stream, name);
  } catch {
    await jsm.consumers.add(stream, cfg);
  }
  return jetstream(nc).consumers.get(stream, name);
}
export { headers as natsHeaders } from '@nats-io/transport-node';
