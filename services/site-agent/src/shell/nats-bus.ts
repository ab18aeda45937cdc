import type { Subjects } from '@drc/contracts';
import { createNatsBus, type NatsConnection } from '@drc/runtime';
import type { AgentBus } from '../agent/ports';

/** The agent's bus in production: the shared NATS Bus (`@drc/runtime`), its flush, and the streams made sure of. */
export type NatsAgentBus = AgentBus & { ensureStreams(subjects: Subjects, opts?: { replicas?: number }): Promise<void> };

/**
 * Not pure. The AgentBus over one NATS connection: the shared NATS Bus (one place that talks
 * JetStream for every core) plus `flush`, the server's confirmation the agent's lease renewal
 * waits for. Its durables, when created, start at new messages (DeliverPolicy.New), which is what
 * the agent's command consumer asks for: a command older than the consumer is stale by
 * definition. Asking for 'all' throws rather than silently getting 'new'.
 */
export function createNatsAgentBus(nc: NatsConnection): NatsAgentBus {
  const bus = createNatsBus(nc);
  return {
    publish: (subject, data, opts) => bus.publish(subject, data, opts),
    publishVolatile: (subject, data, opts) => bus.publishVolatile(subject, data, opts),
    subscribe: (subject, handler) => bus.subscribe(subject, handler),
    consume: (stream, durable, opts) => {
      if (opts.deliver === 'all') return Promise.reject(new Error(`consume ${stream}/${durable}: the NATS bus creates durables at new messages only (deliver: 'all' is not supported)`));
      const { deliver: _deliver, ...rest } = opts;
      return bus.consume(stream, durable, rest);
    },
    flush: () => nc.flush(),
    ensureStreams: async (subjects, opts) => {
      await bus.ensureStreams!(subjects, opts);
    },
  };
}
