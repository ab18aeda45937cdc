/**
 * Random timings for the chaos scenarios, reproducible: every scenario file draws from a PRNG
 * seeded by DRC_CHAOS_SEED (or a fresh seed it prints), so a failing run is replayed by setting
 * the seed it printed. `npm run chaos -- N` loops over seeds.
 */
export interface ChaosRandom {
  readonly seed: number;
  /** A number in [0, 1). */
  next(): number;
  /** Not pure. Waits a random time from `minMs` up to `maxMs`, and says how long. */
  jitter(maxMs: number, minMs?: number): Promise<number>;
}

/** Pure. mulberry32: a small seeded PRNG, enough to vary timings reproducibly. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Not pure (reads DRC_CHAOS_SEED, prints the seed). One generator per scenario file, labelled. */
export function chaosRandom(label: string, env: NodeJS.ProcessEnv = process.env): ChaosRandom {
  const seed = Number(env.DRC_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
  if (!Number.isInteger(seed)) throw new Error(`DRC_CHAOS_SEED: expected a whole number, got "${env.DRC_CHAOS_SEED}"`);
  console.log(`[${label}] chaos seed ${seed} (DRC_CHAOS_SEED=${seed} to replay)`);
  const next = mulberry32(seed);
  return {
    seed,
    next,
    jitter: async (maxMs, minMs = 0) => {
      const ms = Math.floor(minMs + next() * Math.max(0, maxMs - minMs));
      await new Promise((r) => setTimeout(r, ms));
      return ms;
    },
  };
}
