import { connectNats, createLogger, type NatsConnection } from '@drc/runtime';
import { eventually, natsUrl, uniquePrefix } from '@drc/test-kit';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElector } from './elector';

describe('leader election through a NATS KV lease', () => {
  let nc: NatsConnection;
  const bucket = uniquePrefix('LEAD').toUpperCase();
  const logger = createLogger('elector-test').child({}, { level: 'silent' });

  beforeAll(async () => {
    nc = await connectNats({ url: natsUrl(), name: 'elector-test' });
  });
  afterAll(async () => {
    await new Kvm(nc).open(bucket).then((kv) => kv.destroy()).catch(() => undefined);
    await nc.close();
  });

  it('elects exactly one leader, and a standby takes over with a higher epoch when the leader vanishes', async () => {
    const a = new LeaderElector({ nc, bucket, candidateId: 'a', ttlMs: 600, logger });
    const b = new LeaderElector({ nc, bucket, candidateId: 'b', ttlMs: 600, logger });
    await a.start();
    await b.start();
    await eventually(() => a.isLeader() || b.isLeader(), 5000);
    // Watch for a while: never two leaders at once.
    for (let i = 0; i < 20; i++) {
      expect(a.isLeader() && b.isLeader()).toBe(false);
      await new Promise((r) => setTimeout(r, 50));
    }
    const [leader, standby] = a.isLeader() ? [a, b] : [b, a];
    const firstEpoch = leader.current.leaderEpoch;
    // The leader dies without releasing (a crash): stop its timer but keep the lease in KV.
    (leader as unknown as { running: boolean }).running = false;
    await eventually(() => standby.isLeader(), 5000);
    expect(standby.current.leaderEpoch).toBe(firstEpoch + 1);
    // The old leader, coming back, finds its renewal rejected and steps down.
    (leader as unknown as { running: boolean }).running = true;
    await eventually(() => !leader.current.leader, 5000);
    expect(leader.isLeader()).toBe(false);
    await a.stop();
    await b.stop();
  });

  it('hands over at once when the leader stops cleanly', async () => {
    const bucket2 = `${bucket}_2`;
    const a = new LeaderElector({ nc, bucket: bucket2, candidateId: 'a', ttlMs: 20_000, logger });
    const b = new LeaderElector({ nc, bucket: bucket2, candidateId: 'b', ttlMs: 20_000, logger });
    await a.start();
    await b.start();
    expect(a.isLeader()).toBe(true);
    await a.stop();
    await eventually(() => b.isLeader(), 5_000); // far sooner than the 20 s TTL
    expect(b.current.leaderEpoch).toBe(2);
    await b.stop();
    await new Kvm(nc).open(bucket2).then((kv) => kv.destroy());
  });
});
