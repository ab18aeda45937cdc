import type { FaultPlan } from './faults';
import { runEstate, type EstateConfig, type RunResult } from './estate';

export interface ShrinkResult {
  /** The smallest fault plan found that still breaks the same invariant. */
  plan: FaultPlan;
  /** The run of that plan. */
  run: RunResult;
  attempts: number;
}

/**
 * Shrinks a failing seed's fault schedule (delta debugging, one event at a time, then the
 * whole-run rates): keeps a removal when the run still breaks the same invariant. The seed stays
 * the same, so every other choice (estate shape, latencies, the components' own draws) is the
 * same as in the original run: each component draws from its own named stream, and the plan is
 * data. Runs stop at the first violation and never last longer than the original's violation
 * time plus `marginMs`. Returns undefined when the seed does not fail.
 */
export async function shrinkSeed(cfg: EstateConfig, opts: { marginMs?: number; maxAttempts?: number; log?: (line: string) => void } = {}): Promise<ShrinkResult | undefined> {
  const first = await runEstate({ ...cfg, stopOnViolation: true });
  const target = first.violations[0];
  if (!target) return undefined;
  const durationMs = Math.min(cfg.durationMs ?? first.simulatedMs, target.at + (opts.marginMs ?? 5000));
  let best: FaultPlan = { ...first.plan, events: first.plan.events.filter((e) => e.at <= target.at) };
  let bestRun = first;
  let attempts = 0;
  const maxAttempts = opts.maxAttempts ?? 200;
  const fails = async (plan: FaultPlan): Promise<RunResult | undefined> => {
    attempts++;
    const r = await runEstate({ ...cfg, durationMs, stopOnViolation: true, plan: () => plan });
    return r.violations.some((v) => v.invariant === target.invariant) ? r : undefined;
  };
  // Whole chunks first (halves, quarters…), then single events.
  for (let chunk = Math.max(1, Math.floor(best.events.length / 2)); chunk >= 1 && attempts < maxAttempts; chunk = Math.floor(chunk / 2)) {
    for (let i = 0; i < best.events.length && attempts < maxAttempts; ) {
      const candidate: FaultPlan = { ...best, events: [...best.events.slice(0, i), ...best.events.slice(i + chunk)] };
      const r = await fails(candidate);
      if (r) {
        best = candidate;
        bestRun = r;
        opts.log?.(`  kept without ${chunk} event(s) at index ${i}: ${best.events.length} left`);
      } else i += chunk;
    }
  }
  for (const k of Object.keys(best.rates)) {
    if (attempts >= maxAttempts) break;
    const rates = { ...best.rates };
    delete rates[k];
    const candidate: FaultPlan = { ...best, rates, enabled: best.enabled.filter((x) => x !== k) };
    const r = await fails(candidate);
    if (r) {
      best = candidate;
      bestRun = r;
      opts.log?.(`  kept without the ${k} rate`);
    }
  }
  return { plan: best, run: bestRun, attempts };
}
