import type { Subjects } from '@drc/contracts';
import { durableConsumer, ensureStreams, jetStreamOf, natsHeaders, pullOptions, type BusConsumption, type BusMessage, type JetStreamClient, type JsMsg, type NatsConnection, type PublishOptions } from '@drc/runtime';
import type { AgentBus } from '../agent/ports';

type NatsHeaders = ReturnType<typeof natsHeaders>;

/** Pure. A message's NATS headers as a plain record (the last value of a repeated key). */
function headersRecord(h: NatsHeaders | undefined): Record<string, string> | undefined {
  if (!h) return undefined;
  const out: Record<string, string> = {};
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

/** Not pure (allocates NATS headers). A record as NATS headers; undefined when empty. */
function natsHeadersOf(record: Readonly<Record<string, string>> | undefined): NatsHeaders | undefined {
  if (!record || Object.keys(record).length === 0) return undefined;
  const h = natsHeaders();
  for (const [k, v] of Object.entries(record)) h.set(k, v);
  return h;
}

function busMessageOf(m: JsMsg): BusMessage {
  const headers = headersRecord(m.headers);
  return {
    subject: m.subject,
    data: m.data,
    ...(headers ? { headers } : {}),
    redelivered: m.redelivered,
    ack: () => m.ack(),
    nak: (delayMs) => m.nak(delayMs),
  };
}

/**
 * The agent's Bus over one NATS connection (JetStream for streams, core NATS for heartbeats).
 * A production adapter of the agent core's AgentBus port: the only agent code that calls the NATS
 * client (with `../agent/` never importing it).
 */
export class NatsAgentBus implements AgentBus {
  private readonly js: JetStreamClient;

  constructor(private readonly nc: NatsConnection) {
    this.js = jetStreamOf(nc);
  }

  async ensureStreams(subjects: Subjects, opts: { replicas?: number } = {}): Promise<void> {
    await ensureStreams(this.nc, subjects, { replicas: opts.replicas ?? 1 });
  }

  async publish(subject: string, data: Uint8Array, opts: PublishOptions = {}): Promise<void> {
    const headers = natsHeadersOf(opts.headers);
    await this.js.publish(subject, data, { ...(headers ? { headers } : {}), ...(opts.msgId ? { msgID: opts.msgId } : {}) });
  }

  publishVolatile(subject: string, data: Uint8Array, opts: Pick<PublishOptions, 'headers'> = {}): void {
    const headers = natsHeadersOf(opts.headers);
    this.nc.publish(subject, data, headers ? { headers } : undefined);
  }

  flush(): Promise<void> {
    return this.nc.flush();
  }

  subscribe(subject: string, handler: (subject: string, data: Uint8Array, headers?: Readonly<Record<string, string>>) => void): () => void {
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        handler(msg.subject, msg.data, headersRecord(msg.headers));
      },
    });
    return () => sub.unsubscribe();
  }

  async consume(stream: string, durable: string, opts: { ackWaitMs: number; filterSubjects?: string[]; maxMessages?: number; deliver?: 'all' | 'new' }): Promise<BusConsumption> {
    const [filter, ...more] = opts.filterSubjects ?? [];
    if (more.length > 0) throw new Error(`NatsAgentBus.consume: one filter subject at most (got ${opts.filterSubjects!.length})`);
    const consumer = await durableConsumer(this.nc, stream, durable, { ...(filter ? { filter } : {}), deliverAll: (opts.deliver ?? 'all') === 'all', ackWaitMs: opts.ackWaitMs });
    const messages = await consumer.consume(pullOptions(opts.maxMessages ?? 64));
    return {
      async *[Symbol.asyncIterator]() {
        for await (const m of messages) yield busMessageOf(m);
      },
      close: async () => {
        await messages.close();
      },
    };
  }
}
