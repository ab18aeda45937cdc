import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createSubjects, type Command, type CommandAction, type CommandResult, type Heartbeat, type WorkloadRole } from '@drc/contracts';
import { createLogger, decodeJson, encodeJson, type BusConsumption, type BusMessage, type Clock, type Random, type TimerHandle } from '@drc/runtime';
import { describe, expect, it } from 'vitest';
import type { ActionContext, ProbeResult, WorkloadDriver } from '../drivers/driver';
import { AgentCore } from './core';
import { mustSelfFence, peersReachable, renewalTimeoutMs } from './lease';
import { MemoryAgentJournal } from './journal';
import type { AgentBus, AgentState, WitnessProbe } from './ports';

/**
 * The agent core on a hand-driven clock, bus and randomness (issue 18): no OS timer, clock or
 * NATS is involved, so what it does depends only on what the ports tell it. The fakes are the
 * smallest implementations of the ports; the real bus is exercised by the shell's int tests.
 */

const logger = createLogger('agent-core-test').child({}, { level: 'silent' });
const T0 = 1_700_000_000_000;

/** A clock that moves only when told; timers run in due order, each followed by the work it unblocks. */
class ManualClock implements Clock {
  private t = T0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void; every?: number }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h as number);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn, every: ms });
    return id;
  }
  clearInterval(h: TimerHandle): void {
    this.timers.delete(h as number);
  }
  async yield(): Promise<void> {}
  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.setTimeout(r, ms));
  }
  /** Runs every timer due up to now + ms, in order, letting promise chains settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      const [id, timer] = due;
      this.t = timer.at;
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
      await settle();
    }
    this.t = end;
  }
}

/** Lets every promise chain that can move move (test code: real macrotask turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A seeded randomness (mulberry32). */
function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, uuid: () => `00000000-0000-4000-8000-${Math.floor(next() * 2 ** 48).toString(16).padStart(12, '0')}` };
}

/** A bus whose link to the server is up or cut; while cut, flushes and stream publishes never complete. */
class FakeBus implements AgentBus {
  linkUp = true;
  readonly sent: Array<{ subject: string; body: unknown }> = [];
  private readonly subs: Array<{ subject: string; handler: (s: string, d: Uint8Array) => void }> = [];
  private push?: (m: BusMessage) => void;
  private readonly pending: BusMessage[] = [];
  readonly acked: string[] = [];

  publish(subject: string, data: Uint8Array): Promise<void> {
    if (!this.linkUp) return new Promise(() => {});
    this.sent.push({ subject, body: decodeJson(data) });
    return Promise.resolve();
  }
  publishVolatile(subject: string, data: Uint8Array): void {
    if (this.linkUp) this.sent.push({ subject, body: decodeJson(data) });
  }
  flush(): Promise<void> {
    return this.linkUp ? Promise.resolve() : new Promise(() => {});
  }
  subscribe(subject: string, handler: (s: string, d: Uint8Array) => void): () => void {
    const sub = { subject, handler };
    this.subs.push(sub);
    return () => void this.subs.splice(this.subs.indexOf(sub), 1);
  }
  /** A volatile message from elsewhere (another site's heartbeat). */
  hear(subject: string, body: unknown): void {
    for (const s of this.subs) if (subject.startsWith(s.subject.replace(/[*>].*$/, ''))) s.handler(subject, encodeJson(body));
  }
  async consume(): Promise<BusConsumption> {
    const queue = this.pending;
    let wake: (() => void) | undefined;
    let closed = false;
    this.push = (m) => {
      queue.push(m);
      wake?.();
    };
    return {
      async *[Symbol.asyncIterator]() {
        while (!closed) {
          const m = queue.shift();
          if (m) yield m;
          else await new Promise<void>((r) => (wake = r));
        }
      },
      close: async () => {
        closed = true;
        wake?.();
      },
    };
  }
  /** A command delivered by the durable consumer. */
  deliver(subject: string, cmd: Command): void {
    this.push!({ subject, data: encodeJson(cmd), redelivered: false, ack: () => void this.acked.push(cmd.commandId), nak: () => undefined });
  }
}

/** A copy whose role changes with the actions run on it; `slowMs` makes an action take that long on the given clock. */
class FakeDriver implements WorkloadDriver {
  readonly type = 'sim' as const;
  readonly capabilities = new Set<CommandAction>(['fence', 'unfence', 'promote', 'demote']);
  readonly runs: string[] = [];
  constructor(
    public role: WorkloadRole,
    private readonly clock: Clock,
    private readonly slowMs = 0,
  ) {}
  async probe(): Promise<ProbeResult> {
    return { role: this.role, healthy: true };
  }
  async execute(action: CommandAction, _p: Record<string, unknown>, ctx: ActionContext): Promise<{ detail?: Record<string, unknown> }> {
    this.runs.push(`${action}@${ctx.epoch}:start`);
    if (this.slowMs) await this.clock.sleep(this.slowMs);
    this.role = action === 'fence' ? 'fenced' : action === 'promote' || action === 'unfence' ? 'primary' : action === 'demote' ? 'replica' : this.role;
    this.runs.push(`${action}@${ctx.epoch}:end`);
    return {};
  }
  async close(): Promise<void> {}
}

const prefix = 'drcunit';
const subjects = createSubjects(prefix);

function estate(opts: { seed?: number; disk?: AgentState; witness?: WitnessProbe; slowMs?: number; leaseTtlMs?: number } = {}) {
  const clock = new ManualClock();
  const bus = new FakeBus();
  const w1 = new FakeDriver('primary', clock, opts.slowMs ?? 0);
  const w2 = new FakeDriver('replica', clock, 0);
  const journal = new MemoryAgentJournal(opts.disk);
  const core = new AgentCore({
    siteId: 'A', agentId: 'A@host', prefix, workloads: [{ workloadId: 'w1', driver: w1 }, { workloadId: 'w2', driver: w2 }], peerSites: ['B', 'C'],
    heartbeatMs: 1000, leaseTtlMs: opts.leaseTtlMs ?? 3000, logger, clock, random: seededRandom(opts.seed ?? 1), bus, journal,
    ...(opts.witness ? { witness: opts.witness } : {}),
  });
  return { clock, bus, w1, w2, journal, core };
}

const command = (clock: Clock, over: Partial<Command>): Command => ({
  kind: 'command', v: 1, commandId: 'c1', workloadId: 'w1', siteId: 'A', action: 'fence', epoch: 1,
  issuedAt: clock.now(), deadline: clock.now() + 30_000, coordinatorId: 'coord', leaderEpoch: 1, params: {}, ...over,
});

const heartbeats = (bus: FakeBus) => bus.sent.filter((m) => m.subject === subjects.heartbeat('A')).map((m) => m.body as Heartbeat);
const results = (bus: FakeBus) => bus.sent.filter((m) => m.subject === subjects.commandResult('A')).map((m) => m.body as CommandResult);

describe('agent core - runs on the clock, bus and randomness it is given', () => {
  it('the same seed and inputs give the same messages, byte for byte; the incarnation comes from the seed', async () => {
    const run = async (seed: number) => {
      const e = estate({ seed });
      await e.core.start();
      await e.clock.advance(2500);
      e.bus.deliver(subjects.commands('A'), command(e.clock, { commandId: 'f1', action: 'fence', epoch: 2 }));
      await e.clock.advance(3000);
      await e.core.stop();
      return JSON.stringify(e.bus.sent);
    };
    const a = await run(7);
    expect(a).toBe(await run(7));
    expect(a).not.toBe(await run(8)); // the incarnation id differs
    const sent = JSON.parse(a) as Array<{ subject: string; body: Heartbeat }>;
    // One heartbeat at start and one per simulated second: 6 by 5.5 s, seq 1..6, sentAt on the given clock.
    const hbs = sent.filter((m) => m.subject === subjects.heartbeat('A')).map((m) => m.body);
    expect(hbs.map((h) => [h.seq, h.sentAt - T0])).toEqual([[1, 0], [2, 1000], [3, 2000], [4, 3000], [5, 4000], [6, 5000]]);
    expect(new Set(hbs.map((h) => h.incarnation.startedAt))).toEqual(new Set([T0]));
  });

  it('a heartbeat from another site makes it reachable for a lease, by the given clock', async () => {
    const { clock, bus, core } = estate();
    await core.start();
    bus.hear(subjects.heartbeat('B'), { kind: 'heartbeat', v: 1, siteId: 'B', agentId: 'B@h', incarnation: { id: 'b', startedAt: T0 }, seq: 1, sentAt: T0, leaseTtlMs: 3000, peers: {} });
    await clock.advance(1000);
    expect(heartbeats(bus).at(-1)?.peers).toEqual({ B: true, C: false });
    await clock.advance(3000);
    expect(heartbeats(bus).at(-1)?.peers).toEqual({ B: false, C: false });
    await core.stop();
  });
});

describe('agent core - invariant 1: a cut-off agent fences its primary once its lease lapses, on simulated time', () => {
  it('fences only the primary, only after the lease, when no majority is reachable', async () => {
    const { clock, bus, w1, w2, core } = estate();
    await core.start();
    await clock.advance(1500);
    bus.linkUp = false; // flushes hang from now on: no renewal
    const cutAt = clock.now();
    await clock.advance(2000);
    expect(w1.role).toBe('primary'); // lease (3 s from the last renewal at +1 s) still running
    await clock.advance(2000);
    expect(w1.role).toBe('fenced');
    expect(w2.role).toBe('replica');
    expect(core.hasSelfFenced).toBe(true);
    expect(clock.now() - core.leaseRenewedAt).toBeGreaterThanOrEqual(3000);
    expect(core.leaseRenewedAt).toBeLessThan(cutAt);
    await core.stop();
  });

  // KNOWN GAP (found while extracting the core; not fixed here, the fix is a design choice): the
  // coordinator takes A's lease as lapsed 3 s after the last heartbeat it got and, fenceMarginMs
  // (1 s by default) later, treats that as A's fence and promotes elsewhere. A run that restarts
  // inside that lease, cut from NATS and its peers, counts a fresh lease from its own start and
  // fences only ~3 s after it (here at +7.5 s instead of by +6 s): two writable copies meanwhile.
  // The successor watchdog defers to a live, beating agent, so it does not cover this. Candidate
  // fixes: journal the last renewal (AgentJournal) and count from it; or hold no lease until
  // renewed (too eager: a slow first flush under load, peers not yet heard, would fence a
  // healthy primary at every start). `it.fails` passes while the gap is there; make it `it`
  // once fixed.
  it.fails('a run restarted while cut off fences before its predecessor\'s lease + margin is taken as a fence', async () => {
    const clock = new ManualClock();
    const bus = new FakeBus();
    const disk: AgentState = { epochs: new Map(), results: new Map() };
    const run = (seed: number, driver: FakeDriver) =>
      new AgentCore({ siteId: 'A', agentId: 'A@host', prefix, workloads: [{ workloadId: 'w1', driver }], peerSites: ['B', 'C'], heartbeatMs: 1000, leaseTtlMs: 3000, logger, clock, random: seededRandom(seed), bus, journal: new MemoryAgentJournal(disk) });
    const first = run(1, new FakeDriver('primary', clock));
    await first.start();
    await clock.advance(2500); // renewed at +0, +1 s, +2 s
    const lastRenewal = first.leaseRenewedAt;
    bus.linkUp = false;
    await first.stop(); // crashes at +2.5 s
    await clock.advance(2000);
    const copy = new FakeDriver('primary', clock); // the same copy, as the restarted run sees it
    const second = run(2, copy);
    const starting = second.start(); // back at +4.5 s, inside the lease its previous run renewed (its first flush waits on the clock)
    await clock.advance(lastRenewal + 3000 + 1000 - clock.now());
    await starting;
    expect(copy.role, `fenced by ${lastRenewal + 4000 - T0} ms: the lapsed lease + margin`).toBe('fenced');
    expect(second.hasSelfFenced).toBe(true);
    await second.stop();
  });

  it('does not fence when its witness still hears a majority (cut from NATS only)', async () => {
    const witness: WitnessProbe = { start: async () => {}, stop: async () => {}, probeAll: async (heard) => heard('B') };
    const { clock, bus, w1, core } = estate({ witness });
    await core.start();
    bus.linkUp = false;
    await clock.advance(10_000);
    expect(w1.role).toBe('primary');
    expect(core.hasSelfFenced).toBe(false);
    await core.stop();
  });
});

describe('agent core - invariant 2: epochs never decrease, each command runs once, in order per workload', () => {
  it('refuses an older epoch, answers a repeat from memory, and the journal (its disk) carries both across a restart', async () => {
    const disk: AgentState = { epochs: new Map(), results: new Map() };
    const first = estate({ disk });
    await first.core.start();
    first.bus.deliver(subjects.commands('A'), command(first.clock, { commandId: 'p5', action: 'promote', workloadId: 'w2', epoch: 5 }));
    await first.clock.advance(10);
    expect(first.w2.role).toBe('primary');
    expect(disk.epochs.get('w2')).toBe(5);
    await first.core.stop(); // a crash: only the disk stays

    const second = estate({ disk, seed: 2 });
    await second.core.start();
    second.bus.deliver(subjects.commands('A'), command(second.clock, { commandId: 'p5', action: 'promote', workloadId: 'w2', epoch: 5 }));
    second.bus.deliver(subjects.commands('A'), command(second.clock, { commandId: 'd4', action: 'demote', workloadId: 'w2', epoch: 4 }));
    await second.clock.advance(10);
    expect(second.w2.runs).toEqual([]); // neither run: one answered from the journal, one refused
    const [again, stale] = results(second.bus);
    expect(again).toMatchObject({ commandId: 'p5', status: 'done', incarnation: second.core.incarnation });
    expect(stale).toMatchObject({ commandId: 'd4', status: 'refused' });
    expect(stale?.reason).toMatch(/stale epoch 4: newest seen for w2 is 5/);
    expect(second.bus.acked).toEqual(['p5', 'd4']);
    await second.core.stop();
  });

  it('a slow command holds only its own workload: another workload runs meanwhile, the next of its own waits', async () => {
    const { clock, bus, w1, w2, core } = estate({ slowMs: 5000 });
    await core.start();
    bus.deliver(subjects.commands('A'), command(clock, { commandId: 'slow', action: 'fence', workloadId: 'w1', epoch: 1 }));
    bus.deliver(subjects.commands('A'), command(clock, { commandId: 'next', action: 'unfence', workloadId: 'w1', epoch: 1 }));
    bus.deliver(subjects.commands('A'), command(clock, { commandId: 'other', action: 'promote', workloadId: 'w2', epoch: 1 }));
    await clock.advance(100);
    expect(w2.role).toBe('primary');
    expect(w1.runs).toEqual(['fence@1:start']);
    await clock.advance(10_000);
    expect(w1.runs).toEqual(['fence@1:start', 'fence@1:end', 'unfence@1:start', 'unfence@1:end']);
    expect(results(bus).map((r) => r.commandId)).toEqual(['other', 'slow', 'next']);
    await core.stop();
  });
});

describe('agent core - talks to the world only through its ports', () => {
  it('no OS clock, timer, randomness, file or NATS call in agent/ (production files)', () => {
    const dir = fileURLToPath(new URL('.', import.meta.url));
    const forbidden = /\b(Date\.now|new Date\(|setTimeout|setInterval|setImmediate|Math\.random|randomUUID|performance\.now|process\.hrtime)\b|from '(node:[a-z_/]+|@nats-io\/[a-z-]+|fs|crypto)'/;
    const found: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts') && !n.includes('.test.'))) {
      readFileSync(`${dir}/${f}`, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
          // Calls through a port (clock.setTimeout) are the point; bare ones are not.
          if (forbidden.test(code.replace(/\b(clock|this\.clock)\.(setTimeout|setInterval|clearTimeout|clearInterval)\b/g, 'port'))) found.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});

describe('agent core - the lease rules (pure)', () => {
  const base = { now: 10_000, lastRenewedAt: 6_000, leaseTtlMs: 3000, alreadySelfFenced: false, peerSiteCount: 2 };
  it('fences only past the lease, without a majority of all sites, and only once', () => {
    expect(mustSelfFence({ ...base, peers: { B: false, C: false } })).toEqual({ fence: true, reachablePeers: 0 });
    expect(mustSelfFence({ ...base, peers: { B: true, C: false } }).fence).toBe(false); // 2 of 3 with itself
    expect(mustSelfFence({ ...base, lastRenewedAt: 7_001, peers: { B: false, C: false } }).fence).toBe(false); // lease still runs
    expect(mustSelfFence({ ...base, alreadySelfFenced: true, peers: { B: false, C: false } }).fence).toBe(false);
    // 5 sites: itself and one peer are not a majority, itself and two are.
    const five = { ...base, peerSiteCount: 4 };
    expect(mustSelfFence({ ...five, peers: { B: true, C: false, D: false, E: false } }).fence).toBe(true);
    expect(mustSelfFence({ ...five, peers: { B: true, C: true, D: false, E: false } }).fence).toBe(false);
    // Alone in the estate: itself is the majority.
    expect(mustSelfFence({ ...base, peerSiteCount: 0, peers: {} }).fence).toBe(false);
  });

  it('a peer is reachable for one lease after it was last heard; a renewal may take at most a beat or a third of the lease', () => {
    expect(peersReachable(['B', 'C'], new Map([['B', 7_001]]), 10_000, 3000)).toEqual({ B: true, C: false });
    expect(peersReachable(['B'], new Map([['B', 7_000]]), 10_000, 3000)).toEqual({ B: false });
    expect(renewalTimeoutMs(1000, 3000)).toBe(1000);
    expect(renewalTimeoutMs(1000, 600)).toBe(200);
    expect(renewalTimeoutMs(10, 60)).toBe(50);
  });
});
