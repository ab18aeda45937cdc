import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
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
  token?: string;
  /** A NATS credentials file (JWT + nkey seed), as issued by `nsc`. */
  credsFile?: string;
  /** TLS: CA bundle to verify the server, and a client certificate and key for mutual TLS. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/**
 * Not pure (reads the environment). NATS credentials from NATS_USER/NATS_PASSWORD, NATS_TOKEN,
 * NATS_CREDS (file) and NATS_CA/NATS_CERT/NATS_KEY (files). Secrets come from the environment
 * (or a systemd credential / Kubernetes Secret mounted there), never from flags visible in `ps`.
 */
export function natsAuthFromEnv(env: NodeJS.ProcessEnv = process.env): Pick<NatsOptions, 'user' | 'pass' | 'token' | 'credsFile' | 'tls'> {
  const tls = { ...(env.NATS_CA ? { caFile: env.NATS_CA } : {}), ...(env.NATS_CERT ? { certFile: env.NATS_CERT } : {}), ...(env.NATS_KEY ? { keyFile: env.NATS_KEY } : {}) };
  return {
    ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? '' } : {}),
    ...(env.NATS_TOKEN ? { token: env.NATS_TOKEN } : {}),
    ...(env.NATS_CREDS ? { credsFile: env.NATS_CREDS } : {}),
    ...(Object.keys(tls).length ? { tls } : {}),
  };
}

/**
 * Not pure (reads the environment). The stream replica count: DRC_NATS_REPLICAS when set (so one
 * shared config file serves a single-server demo and a 3-node cluster), else the config's. An
 * Error naming the variable when it is not a whole number from 1 to 5.
 */
export function natsReplicasFromEnv(configured: number, env: NodeJS.ProcessEnv = process.env): number | Error {
  const raw = env.DRC_NATS_REPLICAS;
  if (raw === undefined || raw === '') return configured;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 && n <= 5 ? n : new Error(`DRC_NATS_REPLICAS: expected a whole number from 1 to 5, got "${raw}"`);
}

/** Connects to NATS. Throws DependencyUnavailableError with a hint when the server cannot be reached. */
export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  try {
    return await connect({
      // A comma-separated list names several servers of a cluster; the client also learns the
      // others from the cluster itself, and fails over to them when its server goes away.
      servers: opts.url.split(',').map((u) => u.trim()).filter(Boolean),
      name: opts.name,
      reconnect: opts.reconnect ?? true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 3000,
      ...(opts.user ? { user: opts.user, pass: opts.pass } : {}),
      ...(opts.token ? { token: opts.token } : {}),
      ...(opts.credsFile ? { authenticator: credsAuthenticator(readFileSync(opts.credsFile)) } : {}),
      ...(opts.tls ? { tls: opts.tls } : {}),
    });
  } catch (e) {
    // Refused credentials are not an outage: say so, or operators chase the network.
    if (/authorization|authentication|permissions/i.test(String((e as Error).message))) {
      throw new Error(`NATS at ${opts.url} refused our credentials (${(e as Error).message}); check NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS`, { cause: e });
    }
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
 * `replicas` (default 1) is the number of cluster nodes holding each stream: 3 on a 3-node
 * cluster, so that losing one node loses no message and stops nothing. An existing stream is
 * scaled up to `replicas` when it has fewer (never down: another component may have asked more).
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
    let existing: Awaited<ReturnType<typeof jsm.streams.info>> | undefined;
    try {
      existing = await jsm.streams.info(d.name);
    } catch (e) {
      // Only a stream that does not exist is created; any other failure (a cluster electing a new
      // stream leader answers "no responders" for a few seconds) is the caller's to retry, or
      // a create would race the existing stream with a different configuration.
      if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
      existing = undefined;
    }
    if (!existing) {
      await jsm.streams.add(config);
      continue;
    }
    const scaleUp = existing.config.num_replicas < num_replicas;
    const sameSubjects = [...existing.config.subjects].sort().join(' ') === [...d.subjects].sort().join(' ');
    // Nothing to change: no update call (agents then need no stream-update permission).
    if (!scaleUp && sameSubjects && existing.config.max_age === maxAge) continue;
    await jsm.streams.update(d.name, { subjects: d.subjects, max_age: maxAge, ...(scaleUp ? { num_replicas } : {}) });
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

export { AckPolicy, DeliverPolicy, jetstreamManager };
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

/**
 * Options for `consumer.consume()`: pull requests that expire after 5 s (heartbeats every
 * 2.5 s). The default 30 s means that when the cluster node serving a consumer dies, its
 * pending pull waits out the 30 s before a new one reaches the consumer's new leader: commands
 * stood still for half a minute in the deploy/ cluster test. A re-pull every 5 s costs nothing.
 */
export function pullOptions(maxMessages: number): { max_messages: number; expires: number } {
  return { max_messages: maxMessages, expires: 5_000 };
}
