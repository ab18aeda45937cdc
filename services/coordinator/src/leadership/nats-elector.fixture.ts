import { createNatsLeaseStore, type Logger, type NatsConnection } from '@drc/runtime';
import { LeaderElector, leaseRequestTimeoutMs } from './elector';

/**
 * Not pure. An elector over the production lease store, a NATS KV bucket whose requests give up
 * after TTL/3, as the coordinator's shell wires it (leadership tests run it against the real server).
 */
export function natsElector(o: { nc: NatsConnection; bucket: string; candidateId: string; ttlMs: number; logger: Logger }): LeaderElector {
  const leases = createNatsLeaseStore(o.nc, { bucket: o.bucket, requestTimeoutMs: leaseRequestTimeoutMs(o.ttlMs) });
  return new LeaderElector({ leases, candidateId: o.candidateId, ttlMs: o.ttlMs, logger: o.logger });
}
