import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runEstate } from './estate';

/**
 * Issue 18: CI runs a fixed batch and every seed that ever failed (regression-seeds.json).
 * A seed marked `fixed` must pass. A seed not marked fixed is a defect still open: it must still
 * fail (by any invariant); when it passes, whoever fixed it marks it fixed with the commit, so
 * that from then on it guards the fix. The batch is the first seeds of the range the batches of
 * issue 18 started from, less the ones listed (which run above).
 */
interface Entry {
  seed: number;
  durationS: number;
  invariant: string;
  found: string;
  fixed?: string;
}
const seeds = (JSON.parse(readFileSync(new URL('../../regression-seeds.json', import.meta.url), 'utf8')) as { seeds: Entry[] }).seeds;
const listed = new Set(seeds.map((s) => s.seed));
const BATCH = Array.from({ length: 8 }, (_, i) => 1000 + i).filter((s) => !listed.has(s));

describe('simulator regression seeds (regression-seeds.json)', () => {
  for (const s of seeds.filter((x) => x.fixed)) {
    it(`seed ${s.seed} (fixed in ${s.fixed}): ${s.found}`, async () => {
      const r = await runEstate({ seed: s.seed, durationMs: s.durationS * 1000, stopOnViolation: true });
      expect(r.violations.map((v) => `${v.invariant}: ${v.detail}`)).toEqual([]);
    });
  }
  for (const s of seeds.filter((x) => !x.fixed)) {
    it(`seed ${s.seed} is an open defect and still fails (${s.invariant}); when it passes, mark it fixed`, async () => {
      const r = await runEstate({ seed: s.seed, durationMs: s.durationS * 1000, stopOnViolation: true });
      expect(r.violations.length, `seed ${s.seed} passes now: add "fixed": "<commit>" to its entry in regression-seeds.json`).toBeGreaterThan(0);
    });
  }
});

describe('simulator fixed batch', () => {
  it(`seeds ${BATCH.join(', ')} at 300 simulated s: no violation`, async () => {
    const failed: string[] = [];
    for (const seed of BATCH) {
      const r = await runEstate({ seed, durationMs: 300_000, stopOnViolation: true });
      if (r.violations.length > 0) failed.push(`seed ${seed}: ${r.violations[0]!.invariant}: ${r.violations[0]!.detail}`);
    }
    expect(failed).toEqual([]);
  }, 240_000);
});
