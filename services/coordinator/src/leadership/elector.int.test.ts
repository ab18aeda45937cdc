import { connectNats, createLogger, type NatsConnection } from '@drc/runtime';
import { eventually, natsUrl, uniquePrefix } from '@drc/test-kit';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsElector } from './nats-elector.fixture';

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
    const a = natsElector({ nc, bucket, candidateId: 'a', ttlMs: 600, logger });
    const b = natsElector({ nc, bucket, candidateId: 'b', ttlMs: 600, logger });
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

  it('a leader whose renewals are answered late stops acting before a standby can take over', async () => {
    const bucket3 = `${bucket}_3`;
    // A's link answers late: every reply reaches it 800 ms after the server acted on the request
    // (TTL 900 ms, so a renewal is valid for 600 ms). Once A is leader, it renews one last time
    // and then hangs. B, on a prompt link, takes over 900 ms after it saw that last renewal.
    const delayMs = 800;
    let afterReply: ((subject: string) => void) | undefined;
    const slow = new Proxy(nc, {
      get(target, prop) {
        if (prop === 'request') {
          return async (...args: Parameters<NatsConnection['request']>) => {
            const reply = await target.request(...args);
            await new Promise((r) => setTimeout(r, delayMs));
            afterReply?.(args[0]);
            return reply;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const a = natsElector({ nc: slow, bucket: bucket3, candidateId: 'a', ttlMs: 900, logger });
    await a.start();
    expect(a.current.leader).toBe(true);
    const b = natsElector({ nc, bucket: bucket3, candidateId: 'b', ttlMs: 900, logger });
    await b.start();
    await new Promise<void>((resolve) => {
      afterReply = (subject) => {
        if (!subject.startsWith(`$KV.${bucket3}.`)) return; // a renewal (A leads, so it only renews)
        (a as unknown as { running: boolean }).running = false; // A hangs right after this renewal
        afterReply = undefined;
        resolve();
      };
    });
    let both = 0;
    let bLed = false;
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      if (a.isLeader() && b.isLeader()) both++;
      bLed ||= b.isLeader();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(bLed, 'B took over').toBe(true);
    expect(both, 'samples in which A and B both thought they were leader').toBe(0);
    await b.stop();
    await new Kvm(nc).open(bucket3).then((kv) => kv.destroy());
  });

  it('hands over at once when the leader stops cleanly', async () => {
    const bucket2 = `${bucket}_2`;
    const a = natsElector({ nc, bucket: bucket2, candidateId: 'a', ttlMs: 20_000, logger });
    const b = natsElector({ nc, bucket: bucket2, candidateId: 'b', ttlMs: 20_000, logger });
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
