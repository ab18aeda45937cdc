import { describe, expect, it } from 'vitest';
import { Prng, Scheduler, SimClock, Trace, SIM_EPOCH_MS, withVirtualGlobals } from './index';

describe('prng - sfc32 seeded by splitmix32', () => {
  it('gives the same sequence for the same seed, another for another seed', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const sa = Array.from({ length: 8 }, () => a.u32());
    expect(Array.from({ length: 8 }, () => b.u32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.u32())).not.toEqual(sa);
  });

  it('forks named streams that do not depend on how much the parent was used', () => {
    const a = new Prng(7);
    const b = new Prng(7);
    for (let i = 0; i < 100; i++) b.next();
    expect(a.fork('net').u32()).toBe(b.fork('net').u32());
    expect(a.fork('net').u32()).not.toBe(a.fork('faults').u32());
  });

  it('is roughly uniform and makes v4-shaped ids', () => {
    const r = new Prng(1);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) buckets[Math.floor(r.next() * 10)]!++;
    for (const n of buckets) expect(n).toBeGreaterThan(850);
    expect(r.uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (let i = 0; i < 1000; i++) {
      const n = r.int(3, 5);
      expect(n >= 3 && n <= 5).toBe(true);
    }
  });
});

describe('scheduler - virtual time, order, pauses and crashes', () => {
  it('runs events by time, equal times in insertion order', async () => {
    const s = new Scheduler(new Trace());
    const seen: string[] = [];
    s.at(20, () => seen.push('b@20'), 'x');
    s.at(10, () => seen.push('a@10'), 'x');
    s.at(20, () => seen.push('c@20'), 'x');
    s.at(5, () => s.at(20, () => seen.push('d@20 (scheduled last)'), 'x'), 'x');
    await s.run({ until: 100 });
    expect(seen).toEqual(['a@10', 'b@20', 'c@20', 'd@20 (scheduled last)']);
    expect(s.now).toBe(100);
  });

  it('runs every promise chain an event started before virtual time moves on', async () => {
    const s = new Scheduler(new Trace());
    const seen: Array<[string, number]> = [];
    s.at(10, () => {
      void (async () => {
        for (let i = 0; i < 50; i++) await Promise.resolve();
        seen.push(['chain end', s.now]);
      })();
    }, 'x');
    s.at(11, () => seen.push(['next event', s.now]), 'x');
    await s.run({ until: 100 });
    expect(seen).toEqual([['chain end', 10], ['next event', 11]]);
  });

  it('holds a paused process\'s events until it resumes, in order, and drops a crashed one\'s', async () => {
    const s = new Scheduler(new Trace());
    const p = s.process('agent-A');
    const q = s.process('agent-B');
    const seen: Array<[string, number]> = [];
    s.at(10, () => s.pause(p, 100), 'x', undefined);
    s.at(20, () => seen.push(['p1', s.now]), 'x', p);
    s.at(30, () => seen.push(['p2', s.now]), 'x', p);
    s.at(30, () => seen.push(['q', s.now]), 'x', q);
    s.at(40, () => s.crash(q), 'x', undefined);
    s.at(50, () => seen.push(['q dead', s.now]), 'x', q);
    s.at(60, () => s.restart(q), 'x', undefined);
    s.at(70, () => s.at(80, () => seen.push(['q new', s.now]), 'x', q), 'x', undefined);
    await s.run({ until: 1000 });
    expect(seen).toEqual([['q', 30], ['q new', 80], ['p1', 110], ['p2', 110]]);
  });
});

describe('sim clock - skew, drift, timers', () => {
  it('reads skewed and drifting time and times its timers on its own clock', async () => {
    const s = new Scheduler(new Trace());
    const fast = new SimClock(s, s.process('fast'), { skewMs: 500, driftPpm: 100_000 }); // 10% fast
    const seen: number[] = [];
    s.at(0, () => fast.setTimeout(() => seen.push(s.now), 1100), 'x', undefined);
    await s.run({ until: 10_000 });
    expect(seen).toEqual([1000]); // 1100 ms of a 10 % fast clock is 1000 ms of true time
    expect(fast.now()).toBe(SIM_EPOCH_MS + 500 + 11_000);
    fast.step(-2000);
    expect(fast.now()).toBe(SIM_EPOCH_MS + 500 + 11_000 - 2000);
  });

  it('intervals, clearing, sleep', async () => {
    const s = new Scheduler(new Trace());
    const c = new SimClock(s, s.process('p'));
    const ticks: number[] = [];
    let h: ReturnType<typeof c.setInterval> | undefined;
    s.at(0, () => {
      h = c.setInterval(() => ticks.push(s.now), 100);
      void c.sleep(350).then(() => c.clearInterval(h!));
    }, 'x', undefined);
    await s.run({ until: 1000 });
    expect(ticks).toEqual([100, 200, 300]);
  });

  it('virtual globals: setTimeout and Date.now follow the running process, and are restored', async () => {
    const s = new Scheduler(new Trace());
    const p = s.process('legacy');
    const clock = new SimClock(s, p, { skewMs: 42 });
    const realSetTimeout = globalThis.setTimeout;
    const seen: number[] = [];
    await withVirtualGlobals(s, (proc) => (proc === p ? clock : undefined), async () => {
      s.at(5, () => {
        setTimeout(() => seen.push(Date.now()), 1000);
      }, 'x', p);
      await s.run({ until: 5000 });
    });
    expect(seen).toEqual([SIM_EPOCH_MS + 42 + 1005]);
    expect(globalThis.setTimeout).toBe(realSetTimeout);
  });
});

/** A toy system: processes exchanging random-delay messages through async chains. */
async function toyRun(seed: number): Promise<string> {
  const trace = new Trace();
  const s = new Scheduler(trace);
  const root = new Prng(seed);
  const procs = ['a', 'b', 'c'].map((id) => ({ proc: s.process(id), rng: root.fork(id) }));
  const clocks = procs.map((p) => new SimClock(s, p.proc, { driftPpm: p.rng.int(-100, 100) }));
  procs.forEach((p, i) => {
    clocks[i]!.setInterval(() => {
      void (async () => {
        await clocks[i]!.sleep(p.rng.int(0, 50));
        const to = procs[p.rng.int(0, 2)]!;
        trace.record(s.now, p.proc.id, 'send', `${to.proc.id} ${p.rng.int(0, 1000)}`);
        if (p.rng.chance(0.05)) s.pause(to.proc, p.rng.int(10, 500));
      })();
    }, 100 + i * 7);
  });
  await s.run({ until: 60_000 });
  return trace.digest();
}

describe('determinism', () => {
  it('the same seed gives the same trace hash, twice in one process; another seed another', async () => {
    const first = await toyRun(1234);
    expect(await toyRun(1234)).toBe(first);
    expect(await toyRun(1235)).not.toBe(first);
  });
});
