import type { Bus, BusConsumption, BusMessage, Clock, PublishOptions } from '@drc/runtime';
import type { Prng } from '../kernel/prng';
import type { Scheduler, SimProcess } from '../kernel/scheduler';
import type { Network } from './network';

/** Pure. NATS subject matching: `*` one token, `>` one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  // Memoized: every publish is matched against every subscription and stream, and an estate
  // uses a few hundred distinct subjects (bounded, in case one day they carry unique ids).
  let bySubject = matchCache.get(pattern);
  if (!bySubject) matchCache.set(pattern, (bySubject = new Map()));
  const hit = bySubject.get(subject);
  if (hit !== undefined) return hit;
  const m = matches(pattern, subject);
  if (bySubject.size < 10_000) bySubject.set(subject, m);
  return m;
}

const matchCache = new Map<string, Map<string, boolean>>();

function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

export interface StreamConfig {
  name: string;
  subjects: string[];
  /** Nats-Msg-Id de-duplication window (ms); JetStream's default is 2 minutes. */
  duplicateWindowMs?: number;
}

/** The rates of the JetStream faults a run enables (0: off). */
export interface JetStreamFaults {
  /** Probability that a volatile (core NATS) message is dropped on its way to a subscriber. */
  volatileLoss: number;
  /** Probability that a publish is sent twice (a client retry after a lost ack): the msgId window must dedupe it. */
  duplicatePublish: number;
  /** Probability that an ack from a consumer is lost (the message is redelivered after ack wait). */
  ackLoss: number;
  /** Extra delay (ms, up to) added to a delivery now and then, reordering it against later ones across subjects. */
  deliveryDelayMs: number;
}

export const NO_JETSTREAM_FAULTS: JetStreamFaults = { volatileLoss: 0, duplicatePublish: 0, ackLoss: 0, deliveryDelayMs: 0 };

interface StoredMsg {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Readonly<Record<string, string>> | undefined;
}

interface Stream {
  config: StreamConfig;
  messages: StoredMsg[];
  /** msgId → time stored (server time = virtual time). */
  dedup: Map<string, number>;
}

interface Binding {
  conn: Connection;
  push: (m: BusMessage) => void;
}

interface Consumer {
  stream: Stream;
  durable: string;
  filterSubjects: string[] | undefined;
  ackWaitMs: number;
  /** Next stream sequence to deliver for the first time. */
  nextSeq: number;
  /** Delivered, not yet acknowledged: seq → delivery count and its ack-wait timer. */
  pending: Map<number, { count: number; timer: ReturnType<Scheduler['at']> | undefined }>;
  /** Sequences to deliver again (nak, ack wait, restart), in order. */
  redeliver: number[];
  /** How many times each sequence was delivered (kept until acked). */
  counts: Map<number, number>;
  bindings: Binding[];
  rr: number;
}

interface Connection {
  node: string;
  proc: SimProcess;
  incarnation: number;
  subs: Array<{ subject: string; handler: (subject: string, data: Uint8Array, headers?: Readonly<Record<string, string>>) => void }>;
}

const MAX_ACK_PENDING = 256;

/** The Bus port plus what an agent also needs (the agent core's AgentBus): flush, and durables that start at new messages. */
export interface SimBus extends Bus {
  /** Resolves once the server has everything this connection sent so far; rejects after the timeout. */
  flush(): Promise<void>;
  consume(stream: string, durable: string, opts: { ackWaitMs: number; filterSubjects?: string[]; maxMessages?: number; deliver?: 'all' | 'new' }): Promise<BusConsumption>;
}

/**
 * A simulated NATS server with JetStream, on its own node and process (`nats`): streams with
 * Nats-Msg-Id de-duplication, durable consumers with ack, ack-wait redelivery and nak,
 * fan-out of volatile (core) messages, and restarts. What a restart loses: everything in
 * flight (its process's events die with it: publishes not yet stored, acks not yet applied),
 * the consumers' delivery state (every unacknowledged message is delivered again, flagged
 * redelivered) and the core subscriptions, which clients re-make when they reconnect (here:
 * the server keeps them, as the client library re-subscribes transparently). Stored messages
 * survive (file storage).
 */
export class SimJetStream {
  readonly node = 'nats';
  private readonly streams = new Map<string, Stream>();
  private readonly consumers = new Map<string, Consumer>();
  private readonly connections = new Set<Connection>();
  stats = { stored: 0, deduped: 0, delivered: 0, redelivered: 0, acked: 0, volatileSent: 0, volatileDropped: 0 };

  constructor(
    private readonly sched: Scheduler,
    private readonly net: Network,
    readonly proc: SimProcess,
    private readonly rng: Prng,
    public faults: JetStreamFaults = NO_JETSTREAM_FAULTS,
  ) {
    net.attach(this.node, proc);
  }

  /** Told of every message a stream stores (a god's-eye view for adversarial faults and checkers). */
  readonly storedListeners: Array<(stream: string, subject: string, data: Uint8Array) => void> = [];

  addStream(config: StreamConfig): void {
    this.streams.set(config.name, { config, messages: [], dedup: new Map() });
  }

  /** All messages a stream stored (for checkers and tests). */
  messages(stream: string): ReadonlyArray<StoredMsg> {
    return this.streams.get(stream)?.messages ?? [];
  }

  /** Crash and restart after `downMs`: in-flight work lost, deliveries start over from the ack floor. */
  restart(downMs: number): void {
    this.sched.crash(this.proc);
    for (const c of this.consumers.values()) {
      const unacked = [...c.pending.keys()].sort((a, b) => a - b);
      c.pending.clear();
      c.redeliver = [...new Set([...unacked, ...c.redeliver])].sort((a, b) => a - b);
    }
    this.sched.at(this.sched.now + downMs, () => {
      this.sched.restart(this.proc);
      for (const c of this.consumers.values()) this.pump(c);
    }, 'nats-restart', undefined);
  }

  /** A client connection from `node` (its process), implementing the Bus port. */
  connect(node: string, proc: SimProcess, clock: Clock, opts: { publishTimeoutMs?: number } = {}): SimBus {
    const conn: Connection = { node, proc, incarnation: proc.incarnation, subs: [] };
    this.connections.add(conn);
    const timeoutMs = opts.publishTimeoutMs ?? 5000;
    const alive = () => conn.incarnation === proc.incarnation && proc.state !== 'crashed';
    return {
      publish: (subject, data, popts?: PublishOptions) => {
        return new Promise<void>((resolve, reject) => {
          let settled = false;
          const timer = clock.setTimeout(() => {
            if (settled) return;
            settled = true;
            reject(Object.assign(new Error(`publish ${subject}: timeout`), { code: 'TIMEOUT' }));
          }, timeoutMs);
          const answer = (err?: Error) => {
            this.net.send(this.node, node, 'js-puback', () => {
              if (settled) return;
              settled = true;
              clock.clearTimeout(timer);
              if (err) reject(err);
              else resolve();
            });
          };
          const copies = this.rng.chance(this.faults.duplicatePublish) ? 2 : 1;
          for (let i = 0; i < copies; i++) {
            this.net.send(node, this.node, 'js-pub', () => answer(this.store(subject, data, popts)));
          }
        });
      },
      flush: () => {
        return new Promise<void>((resolve, reject) => {
          let settled = false;
          const timer = clock.setTimeout(() => {
            if (settled) return;
            settled = true;
            reject(Object.assign(new Error('flush: timeout'), { code: 'TIMEOUT' }));
          }, timeoutMs);
          // Links are FIFO per direction: the pong comes after everything sent before the ping.
          this.net.send(node, this.node, 'nats-ping', () =>
            this.net.send(this.node, node, 'nats-pong', () => {
              if (settled) return;
              settled = true;
              clock.clearTimeout(timer);
              resolve();
            }),
          );
        });
      },
      publishVolatile: (subject, data, popts) => {
        this.stats.volatileSent++;
        this.net.send(node, this.node, 'nats-pub', () => this.fanOut(subject, data, popts?.headers));
      },
      subscribe: (subject, handler) => {
        const sub = { subject, handler };
        conn.subs.push(sub);
        return () => {
          conn.subs = conn.subs.filter((s) => s !== sub);
        };
      },
      consume: async (streamName, durable, copts: { ackWaitMs: number; filterSubjects?: string[]; maxMessages?: number; deliver?: 'all' | 'new' }) => {
        const stream = this.streams.get(streamName);
        if (!stream) throw new Error(`stream ${streamName} not found`);
        let c = this.consumers.get(durable);
        if (!c) {
          c = { stream, durable, filterSubjects: copts.filterSubjects, ackWaitMs: copts.ackWaitMs, nextSeq: copts.deliver === 'new' ? stream.messages.length + 1 : 1, pending: new Map(), redeliver: [], counts: new Map(), bindings: [], rr: 0 };
          this.consumers.set(durable, c);
        }
        const consumer = c;
        const queue: BusMessage[] = [];
        const waiters: Array<(r: IteratorResult<BusMessage>) => void> = [];
        let closed = false;
        const binding: Binding = {
          conn,
          push: (m) => {
            if (closed || !alive()) return;
            const w = waiters.shift();
            if (w) w({ value: m, done: false });
            else queue.push(m);
          },
        };
        consumer.bindings.push(binding);
        this.sched.after(0, () => this.pump(consumer), 'js-pump', this.proc);
        const consumption: BusConsumption = {
          async close() {
            closed = true;
            consumer.bindings = consumer.bindings.filter((b) => b !== binding);
            for (const w of waiters.splice(0)) w({ value: undefined, done: true });
          },
          [Symbol.asyncIterator]() {
            return {
              next: () => {
                if (closed) return Promise.resolve({ value: undefined, done: true } as IteratorResult<BusMessage>);
                const m = queue.shift();
                if (m) return Promise.resolve({ value: m, done: false });
                return new Promise<IteratorResult<BusMessage>>((r) => waiters.push(r));
              },
              return: async () => {
                await consumption.close();
                return { value: undefined, done: true } as IteratorResult<BusMessage>;
              },
            };
          },
        };
        return consumption;
      },
    };
  }

  /** On the server: stores a published message (or dedupes it); returns an error to answer with. */
  private store(subject: string, data: Uint8Array, opts?: PublishOptions): Error | undefined {
    const stream = [...this.streams.values()].find((s) => s.config.subjects.some((p) => subjectMatches(p, subject)));
    if (!stream) return Object.assign(new Error(`no stream matches ${subject}`), { code: 'NO_RESPONDERS' });
    const window = stream.config.duplicateWindowMs ?? 120_000;
    if (opts?.msgId) {
      const at = stream.dedup.get(opts.msgId);
      if (at !== undefined && this.sched.now - at < window) {
        this.stats.deduped++;
        return undefined; // a duplicate is acknowledged as stored
      }
      stream.dedup.set(opts.msgId, this.sched.now);
    }
    const headers = opts?.msgId ? { ...opts.headers, 'Nats-Msg-Id': opts.msgId } : opts?.headers;
    stream.messages.push({ seq: stream.messages.length + 1, subject, data, headers });
    this.stats.stored++;
    for (const l of this.storedListeners) l(stream.config.name, subject, data);
    for (const c of this.consumers.values()) if (c.stream === stream) this.pump(c);
    return undefined;
  }

  private fanOut(subject: string, data: Uint8Array, headers?: Readonly<Record<string, string>>): void {
    for (const conn of this.connections) {
      if (conn.incarnation !== conn.proc.incarnation) {
        this.connections.delete(conn); // that process died: its connection with it
        continue;
      }
      for (const sub of conn.subs) {
        if (!subjectMatches(sub.subject, subject)) continue;
        if (this.rng.chance(this.faults.volatileLoss)) {
          this.stats.volatileDropped++;
          continue;
        }
        this.net.send(this.node, conn.node, 'nats-msg', () => sub.handler(subject, data, headers));
      }
    }
  }

  private matches(c: Consumer, m: StoredMsg): boolean {
    return !c.filterSubjects || c.filterSubjects.some((p) => subjectMatches(p, m.subject));
  }

  /** Delivers what the consumer may have in flight: redeliveries first, then new messages. */
  private pump(c: Consumer): void {
    if (this.proc.state === 'crashed') return;
    c.bindings = c.bindings.filter((b) => b.conn.incarnation === b.conn.proc.incarnation);
    if (c.bindings.length === 0) return;
    while (c.pending.size < MAX_ACK_PENDING) {
      let seq: number | undefined = c.redeliver.shift();
      if (seq === undefined) {
        while (c.nextSeq <= c.stream.messages.length && !this.matches(c, c.stream.messages[c.nextSeq - 1]!)) c.nextSeq++;
        if (c.nextSeq > c.stream.messages.length) return;
        seq = c.nextSeq++;
      }
      this.deliver(c, seq);
    }
  }

  private deliver(c: Consumer, seq: number): void {
    const m = c.stream.messages[seq - 1]!;
    const count = (c.counts.get(seq) ?? 0) + 1;
    c.counts.set(seq, count);
    const binding = c.bindings[c.rr++ % c.bindings.length]!;
    const entry = { count, timer: undefined as ReturnType<Scheduler['at']> | undefined };
    entry.timer = this.sched.after(c.ackWaitMs, () => this.ackWaitExpired(c, seq, entry), 'js-ackwait', this.proc);
    c.pending.set(seq, entry);
    if (count > 1) this.stats.redelivered++;
    this.stats.delivered++;
    const extra = this.faults.deliveryDelayMs > 0 && this.rng.chance(0.1) ? this.rng.next() * this.faults.deliveryDelayMs : 0;
    const node = binding.conn.node;
    let answered = false;
    const respond = (fn: () => void) => {
      if (answered) return;
      answered = true;
      if (this.rng.chance(this.faults.ackLoss)) return;
      this.net.send(node, this.node, 'js-ack', fn);
    };
    const msg: BusMessage = {
      subject: m.subject,
      data: m.data,
      ...(m.headers ? { headers: m.headers } : {}),
      redelivered: count > 1,
      ack: () =>
        respond(() => {
          // An ack of any delivery of a message not yet acknowledged counts (as in JetStream).
          if (!c.counts.has(seq)) return;
          this.sched.cancel(c.pending.get(seq)?.timer);
          c.pending.delete(seq);
          c.redeliver = c.redeliver.filter((x) => x !== seq);
          c.counts.delete(seq);
          this.stats.acked++;
          this.pump(c);
        }),
      nak: (delayMs = 0) =>
        respond(() => {
          const cur = c.pending.get(seq);
          if (cur !== entry) return;
          this.sched.cancel(cur.timer);
          cur.timer = this.sched.after(delayMs, () => this.ackWaitExpired(c, seq, cur), 'js-nak', this.proc);
        }),
    };
    this.net.send(this.node, node, 'js-deliver', () => binding.push(msg), extra);
  }

  private ackWaitExpired(c: Consumer, seq: number, entry: { count: number }): void {
    if (c.pending.get(seq) !== entry) return;
    c.redeliver.push(seq);
    c.redeliver.sort((a, b) => a - b);
    c.pending.delete(seq);
    this.pump(c);
  }
}
