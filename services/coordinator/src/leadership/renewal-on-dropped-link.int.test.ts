import { connectNats, type Logger, type NatsConnection } from '@drc/runtime';
import { createTcpProxy, natsUrl, uniquePrefix, type TcpProxy } from '@drc/test-kit';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsElector } from './nats-elector.fixture';

/**
 * Chaos seed 38006 (scenario 8, the NATS node the coordinator was connected to killed): the lone
 * coordinator's renewal was on its way when its link dropped; the answer never came and the
 * renewal waited out the JetStream client's own 5 s request timeout, longer than the lease's
 * validity (TTL × 2/3), although the client was connected again within a quarter of a second.
 * Its API answered 503 NOT_LEADER meanwhile ("renewed after a renewal went unanswered",
 * leaseAgeMs 5505 with a 3 s TTL). A leader whose link drops for less than a renewal period
 * must not stop leading: a renewal unanswered is given up on, and sent again, well within the
 * lease.
 */

const TTL_MS = 3_000;

function quietLogger(): Logger {
  const noop = () => undefined;
  const logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop, child: () => logger, level: 'warn' };
  return logger as unknown as Logger;
}

describe('leadership - a leader whose NATS link drops during a renewal', () => {
  let proxy: TcpProxy;
  let nc: NatsConnection;
  let admin: NatsConnection;
  const bucket = uniquePrefix('DROPLINK').toUpperCase();
  beforeAll(async () => {
    proxy = await createTcpProxy({ targetPort: Number(new URL(natsUrl()).port || 4222) });
    nc = await connectNats({ url: `nats://127.0.0.1:${proxy.port}`, name: 'drop-link-leader' });
    admin = await connectNats({ url: natsUrl(), name: 'drop-link-admin' });
  });
  afterAll(async () => {
    await new Kvm(admin).open(bucket).then((kv) => kv.destroy()).catch(() => undefined);
    await nc.close().catch(() => undefined);
    await admin.close();
    await proxy.close();
  });

  it('keeps leading without a gap when the link drops just as a renewal is sent and is back 100 ms later', async () => {
    const elector = natsElector({ nc, bucket, candidateId: 'only', ttlMs: TTL_MS, logger: quietLogger() });
    await elector.start();
    try {
      expect(elector.isLeader()).toBe(true);
      const epoch = elector.current.leaderEpoch;
      // Let it renew normally once, then drop the link right after the next renewal is sent.
      await new Promise((r) => setTimeout(r, TTL_MS / 2));
      const kv = (elector as unknown as { kv: { update: (...a: unknown[]) => Promise<number> } }).kv;
      const update = kv.update.bind(kv);
      const dropped = new Promise<number>((resolve) => {
        kv.update = (...args: unknown[]) => {
          kv.update = update;
          const sent = update(...args);
          proxy.cut();
          setTimeout(() => proxy.restore(), 100);
          resolve(Date.now());
          return sent;
        };
      });
      const droppedAt = await dropped;
      // Watch it for two TTLs: the API and every action ask isLeader().
      const gaps: number[] = [];
      while (Date.now() - droppedAt < 2 * TTL_MS) {
        if (!elector.isLeader()) gaps.push(Date.now() - droppedAt);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(gaps.length === 0 ? 'never stopped leading' : `not leading from +${gaps[0]} ms to +${gaps.at(-1)} ms after the drop`).toBe('never stopped leading');
      expect(elector.current.leaderEpoch).toBe(epoch);
    } finally {
      await elector.stop();
    }
  });
});
