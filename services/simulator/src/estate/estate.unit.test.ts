import { describe, expect, it } from 'vitest';
import { runEstate } from './estate';

describe('estate simulation', () => {
  it('the same seed gives the same trace hash twice in one process; another seed another', async () => {
    const a = await runEstate({ seed: 11, durationMs: 60_000, workloads: 4 });
    const b = await runEstate({ seed: 11, durationMs: 60_000, workloads: 4 });
    const c = await runEstate({ seed: 12, durationMs: 60_000, workloads: 4 });
    expect(b.hash).toBe(a.hash);
    expect(b.steps).toBe(a.steps);
    expect(c.hash).not.toBe(a.hash);
    expect(a.counts.clientWrites).toBeGreaterThan(100);
  });

  it('a small batch of seeds runs the real agent core and the real runner with no violation', async () => {
    let failovers = 0;
    for (const seed of [1, 2, 4]) {
      const r = await runEstate({ seed, durationMs: 120_000, workloads: 5, stopOnViolation: true });
      expect(r.violations, `seed ${seed}`).toEqual([]);
      expect(r.counts.events).toBeGreaterThan(5 * 3);
      failovers += r.counts.failovers ?? 0;
    }
    expect(failovers).toBeGreaterThan(0); // the batch exercised at least one failover
  });
});
