import type { Bus, BusMessage } from '@drc/runtime';
import { describe, expect, it } from 'vitest';
import { Prng, Scheduler, SimClock, Trace } from '../kernel/index';
import { Network, SimJetStream, SimLeaseKv, subjectMatches } from './index';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function world(seed = 1) {
  const sched = new Scheduler(new Trace());
  const rng = new Prng(seed);
  const net = new Network(sched, rng.fork('net'), { baseMs: 1, jitterMs: 2 });
  const js = new SimJetStream(sched, net, sched.process('nats'), rng.fork('js'));
  js.addStream({ name: 'AGENTS', subjects: ['drc.v1.site.>'] });
  const node = (id: string) => {
    const proc = sched.process(id);
    net.attach(id, proc);
    const clock = new SimClock(sched, proc);
    return { proc, clock, bus: js.connect(id, proc, clock, { publishTimeoutMs: 500 }) };
  };
  return { sched, net, js, node, rng };
}

/** Consumes in the background, recording [subject, redelivered] and acking unless `ackIf` says no. */
function collect(bus: Bus, seen: Array<[string, boolean]>, ackIf: (m: BusMessage) => boolean = () => true) {
  void (async () => {
    for await (const m of await bus.consume('AGENTS', 'coord', { ackWaitMs: 1000 })) {
      seen.push([dec(m.data), m.redelivered]);
      if (ackIf(m)) m.ack();
    }
  })();
}

describe('subjects', () => {
  it('match NATS wildcards', () => {
    expect(subjectMatches('drc.v1.site.>', 'drc.v1.site.A.heartbeat')).toBe(true);
    expect(subjectMatches('drc.v1.site.*.heartbeat', 'drc.v1.site.A.heartbeat')).toBe(true);
    expect(subjectMatches('drc.v1.site.*', 'drc.v1.site.A.heartbeat')).toBe(false);
    expect(subjectMatches('drc.v1.site.>', 'drc.v1.site')).toBe(false);
  });
});

describe('simulated JetStream - Bus port', () => {
  it('stores a publish, acks the publisher, delivers to the durable consumer in order', async () => {
    const w = world();
    const a = w.node('agent-A');
    const c = w.node('coord-1');
    const seen: Array<[string, boolean]> = [];
    const acked: string[] = [];
    w.sched.at(0, () => collect(c.bus, seen), 'x', c.proc);
    w.sched.at(10, () => {
      for (const i of [1, 2, 3]) void a.bus.publish(`drc.v1.site.A.obs`, enc(`m${i}`)).then(() => acked.push(`m${i}`));
    }, 'x', a.proc);
    await w.sched.run({ until: 5000 });
    expect(acked).toEqual(['m1', 'm2', 'm3']);
    expect(seen).toEqual([['m1', false], ['m2', false], ['m3', false]]);
  });

  it('redelivers what was not acked after ack wait, flagged redelivered', async () => {
    const w = world();
    const a = w.node('agent-A');
    const c = w.node('coord-1');
    const seen: Array<[string, boolean]> = [];
    w.sched.at(0, () => collect(c.bus, seen, (m) => m.redelivered), 'x', c.proc);
    w.sched.at(10, () => void a.bus.publish('drc.v1.site.A.obs', enc('x')), 'x', a.proc);
    await w.sched.run({ until: 5000 });
    expect(seen).toEqual([['x', false], ['x', true]]);
  });

  it('dedupes a publish sent twice with the same msgId, and stores twice without one', async () => {
    const w = world();
    w.js.faults = { ...w.js.faults, duplicatePublish: 1 };
    const a = w.node('agent-A');
    w.sched.at(0, () => {
      void a.bus.publish('drc.v1.site.A.obs', enc('with-id'), { msgId: 'id-1' });
      void a.bus.publish('drc.v1.site.A.obs', enc('no-id'));
    }, 'x', a.proc);
    await w.sched.run({ until: 1000 });
    expect(w.js.messages('AGENTS').map((m) => dec(m.data))).toEqual(['with-id', 'no-id', 'no-id']);
  });

  it('a publish across a cut link times out on the publisher\'s clock and stores nothing', async () => {
    const w = world();
    const a = w.node('agent-A');
    w.net.cut('agent-A', 'nats');
    let err: unknown;
    w.sched.at(0, () => void a.bus.publish('drc.v1.site.A.obs', enc('x')).catch((e: unknown) => (err = e)), 'x', a.proc);
    await w.sched.run({ until: 2000 });
    expect(String(err)).toMatch(/timeout/);
    expect(w.js.messages('AGENTS')).toHaveLength(0);
  });

  it('a NATS restart loses in-flight publishes and redelivers every unacked message', async () => {
    const w = world();
    const a = w.node('agent-A');
    const c = w.node('coord-1');
    const seen: Array<[string, boolean]> = [];
    let acks = 0;
    w.sched.at(0, () => collect(c.bus, seen, () => (acks++, acks > 1)), 'x', c.proc); // the first ack is never sent
    w.sched.at(10, () => void a.bus.publish('drc.v1.site.A.obs', enc('first')), 'x', a.proc);
    w.sched.at(100, () => {
      void a.bus.publish('drc.v1.site.A.obs', enc('lost')).catch(() => undefined);
      w.js.restart(300); // before 'lost' reaches the server
    }, 'x', a.proc);
    await w.sched.run({ until: 3000 });
    expect(w.js.messages('AGENTS').map((m) => dec(m.data))).toEqual(['first']);
    expect(seen).toEqual([['first', false], ['first', true]]);
    expect(w.sched.now).toBe(3000);
  });

  it('volatile messages reach subscribers, not across a cut, and can be dropped', async () => {
    const w = world();
    const a = w.node('agent-A');
    const c = w.node('coord-1');
    const got: string[] = [];
    c.bus.subscribe('drc.v1.hb.>', (_s, d) => got.push(dec(d)));
    w.sched.at(10, () => a.bus.publishVolatile('drc.v1.hb.A', enc('hb1')), 'x', a.proc);
    w.sched.at(20, () => w.net.cut('coord-1', 'nats'), 'x', undefined);
    w.sched.at(30, () => a.bus.publishVolatile('drc.v1.hb.A', enc('hb2')), 'x', a.proc);
    w.sched.at(40, () => {
      w.net.heal('coord-1', 'nats');
      w.js.faults = { ...w.js.faults, volatileLoss: 1 };
    }, 'x', undefined);
    w.sched.at(50, () => a.bus.publishVolatile('drc.v1.hb.A', enc('hb3')), 'x', a.proc);
    await w.sched.run({ until: 1000 });
    expect(got).toEqual(['hb1']);
  });
});

describe('simulated lease KV - LeaseStore port', () => {
  it('creates once, updates only at the current revision, times out across a cut', async () => {
    const w = world();
    const kv = new SimLeaseKv(w.sched, w.net, w.rng.fork('kv'));
    const c = w.node('coord-1');
    const store = kv.client('coord-1', c.clock, 500);
    const log: string[] = [];
    w.sched.at(0, () => {
      void (async () => {
        const r1 = await store.create('leader', enc('c1'));
        log.push(`created ${r1}`);
        await store.create('leader', enc('c2')).catch((e: { code: string }) => log.push(e.code));
        const r2 = await store.update('leader', enc('c1'), r1);
        log.push(`updated ${r2}`);
        await store.update('leader', enc('c1'), r1).catch((e: { code: string }) => log.push(e.code));
        log.push(dec((await store.get('leader'))!.value));
        w.net.cut('coord-1', 'nats');
        await store.get('leader').catch((e: { code: string }) => log.push(e.code));
      })();
    }, 'x', c.proc);
    await w.sched.run({ until: 5000 });
    expect(log).toEqual(['created 1', 'LEASE_CONFLICT', 'updated 2', 'LEASE_CONFLICT', 'c1', 'LEASE_TIMEOUT']);
  });
});
