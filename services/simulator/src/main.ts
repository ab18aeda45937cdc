import { readFileSync } from 'node:fs';
import { buildTimeline, type TimedEvent } from '@drc/history';
import { SIM_EPOCH_MS } from './kernel/scheduler';
import { renderTimeline } from './kernel/trace';
import { REGRESSIONS, runEstate, shrinkSeed, type Regression, type RunResult } from './estate/index';

/**
 * `npm run sim -- --seed S` replays one run exactly and prints its trace hash and a summary;
 * `npm run sim -- --seeds N [--from S]` runs a batch and ends with `N passed, M failed`.
 * Options: --duration <simulated seconds> (default 600), --workloads N, --coordinators N,
 * --tail N (timeline lines printed for a failure, default 60), --regress NAME[,NAME] (re-create a
 * fixed defect's behaviour to show the simulator finds it; see EstateConfig.regressions), --shrink
 * (with --seed: shrink a failing seed's fault schedule to the events it needs, and print it),
 * --regressions (run every seed in regression-seeds.json: which still fail).
 */
function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (inline !== undefined) out[k] = inline;
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) out[k] = argv[++i]!;
    else out[k] = 'true';
  }
  return out;
}

function int(v: string | undefined, name: string, dflt?: number): number | undefined {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: expected a non-negative integer, got "${v}"`);
  return n;
}

function summary(r: RunResult): string {
  const c = r.counts;
  return [
    `seed ${r.seed}: ${r.violations.length === 0 ? 'passed' : `FAILED (${r.violations.length} violation${r.violations.length > 1 ? 's' : ''})`}`,
    `  trace hash ${r.hash} (${r.traceEntries} entries, ${r.steps} steps)`,
    `  estate: ${r.estate.sites} sites, ${r.estate.coordinators} coordinator(s), ${r.estate.workloads} workloads (${r.estate.synchronous} synchronous)`,
    `  faults: ${r.plan.benign ? 'benign (pauses/restarts shorter than the lease) ' : ''}[${r.plan.enabled.join(', ')}], ${r.plan.events.length} scheduled`,
    `  simulated ${(r.simulatedMs / 1000).toFixed(0)} s in ${(r.wallMs / 1000).toFixed(2)} s wall (${(r.simulatedMs / Math.max(1, r.wallMs)).toFixed(0)}x), ${(r.cpuMs / 1000).toFixed(2)} s CPU (${(r.simulatedMs / Math.max(1, r.cpuMs)).toFixed(0)}x)`,
    `  failovers started ${c.failovers ?? 0}, completed ${c.failoversCompleted ?? 0}, promotions ${c.promotions ?? 0}, fences ${c.fences ?? 0}, client writes ${c.clientWrites ?? 0}, events ${c.events ?? 0}`,
    `  at the end: ${c.endWithoutOneWritable ?? 0} workload(s) without exactly one writable copy, ${c.endEscalated ?? 0} escalated (waiting for an operator)`,
    `  bus: stored ${c.stored}, deduped ${c.deduped}, redelivered ${c.redelivered}, volatile dropped ${c.volatileDropped}, net dropped ${c.netDropped}; kv ops ${c.kvOps}; forged results ${c.forgedResults ?? 0}, watchdog fences ${c.watchdogFences ?? 0}`,
  ].join('\n');
}

function failure(r: RunResult, tailLines: number): string {
  const lines = [`FAILED seed ${r.seed} (replay: npm run sim -- --seed ${r.seed})`];
  for (const v of r.violations) lines.push(`  at +${(v.at / 1000).toFixed(3)}s  ${v.invariant}: ${v.detail}`);
  // The failing workload's own stream, as drc's timeline renderer (`drc history`) shows it.
  const workload = /\b(db\d+)\b/.exec(r.violations[0]?.detail ?? '')?.[1];
  if (r.full && workload) {
    // Up to the first violation (clocks are skewed by up to a second or so: a little after it).
    const until = SIM_EPOCH_MS + r.violations[0]!.at + 2000;
    const entries = buildTimeline(r.full.events.filter((e) => e.stream === `workload-${workload}`) as unknown as TimedEvent[])
      .filter((h) => h.at === undefined || h.at <= until)
      .slice(-tailLines);
    lines.push('', `workload ${workload} up to the first violation, last ${entries.length} stream entries (times by the recording coordinator's clock, +s from the start):`);
    for (const h of entries) lines.push(`  ${h.at !== undefined ? `+${((h.at - SIM_EPOCH_MS) / 1000).toFixed(3)}s` : ''.padEnd(9)} ${h.kind.padEnd(11)} ${h.summary}${h.details.length ? ` — ${h.details.slice(0, 2).join(' | ')}` : ''}`.slice(0, 240));
  }
  lines.push('', `last ${tailLines} trace entries:`, renderTimeline(r.tail.filter((e) => e.kind !== 'timer' && e.kind !== 'interval' && e.kind !== 'sleep' && e.kind !== 'pg-write' && e.kind !== 'pg-ship').slice(-tailLines)));
  return lines.join('\n');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const durationMs = int(args.duration, 'duration', 600)! * 1000;
  const tail = int(args.tail, 'tail', 60)!;
  const regressions = (args.regress ?? '').split(',').filter(Boolean) as Regression[];
  for (const r of regressions) if (!(REGRESSIONS as readonly string[]).includes(r)) throw new Error(`--regress: unknown "${r}" (known: ${REGRESSIONS.join(', ')})`);
  const shape = { durationMs, ...(regressions.length > 0 ? { regressions } : {}), ...(args.workloads ? { workloads: int(args.workloads, 'workloads')! } : {}), ...(args.coordinators ? { coordinators: int(args.coordinators, 'coordinators')! } : {}) };
  if (args.seed !== undefined) {
    const r = await runEstate({ seed: int(args.seed, 'seed')!, ...shape, keepTrace: true });
    console.log(summary(r));
    if (r.violations.length > 0) {
      console.log(failure(r, tail));
      if (args.shrink !== undefined) {
        console.log(`shrinking seed ${r.seed}'s fault schedule (${r.plan.events.length} events)…`);
        const s = await shrinkSeed({ seed: r.seed, ...shape }, { log: (l) => console.log(l) });
        if (s) {
          console.log(`shrunk in ${s.attempts} runs to ${s.plan.events.length} fault event(s), rates [${Object.keys(s.plan.rates).join(', ')}], ${(s.run.simulatedMs / 1000).toFixed(1)} simulated s:`);
          for (const e of s.plan.events) console.log(`  +${(e.at / 1000).toFixed(3)}s ${e.kind} ${e.target}${e.other ? ` ${e.other}` : ''} ${e.durationMs} ms${e.amount !== undefined ? ` (${e.amount})` : ''}`);
          console.log(failure(s.run, tail));
        }
      }
      return 1;
    }
    return 0;
  }
  if (args.regressions !== undefined) {
    // Every seed that ever failed, at the duration it failed at: which still fail, and how.
    const file = new URL('../regression-seeds.json', import.meta.url);
    const list = (JSON.parse(readFileSync(file, 'utf8')) as { seeds: Array<{ seed: number; durationS: number; invariant: string; found: string }> }).seeds;
    let still = 0;
    for (const s of list) {
      const r = await runEstate({ seed: s.seed, durationMs: s.durationS * 1000, stopOnViolation: true });
      const same = r.violations.some((v) => v.invariant === s.invariant);
      if (r.violations.length > 0) still++;
      console.log(`seed ${s.seed} (${s.durationS} s): ${r.violations.length === 0 ? 'passes now' : same ? 'still fails' : 'fails otherwise'}: ${r.violations[0] ? `${r.violations[0].invariant}: ${r.violations[0].detail.slice(0, 160)}` : s.found}`);
    }
    console.log(`${list.length - still} passed, ${still} failed`);
    return still > 0 ? 1 : 0;
  }
  const n = int(args.seeds, 'seeds');
  if (n === undefined) {
    console.error('usage: npm run sim -- --seed S | --seeds N [--from S] [--duration SECONDS] [--workloads N] [--coordinators N]');
    return 2;
  }
  const from = int(args.from, 'from', 1)!;
  let passed = 0;
  let failed = 0;
  let simMs = 0;
  let cpuMs = 0;
  const t0 = performance.now();
  const faultCounts = new Map<string, number>();
  for (let seed = from; seed < from + n; seed++) {
    const r = await runEstate({ seed, ...shape, stopOnViolation: true });
    simMs += r.simulatedMs;
    cpuMs += r.cpuMs;
    for (const e of r.plan.events) faultCounts.set(e.kind, (faultCounts.get(e.kind) ?? 0) + 1);
    for (const k of Object.keys(r.plan.rates)) faultCounts.set(k, (faultCounts.get(k) ?? 0) + 1);
    if (r.violations.length === 0) {
      passed++;
      console.log(`seed ${seed} passed ${r.hash.slice(0, 16)} (${(r.wallMs / 1000).toFixed(2)} s, ${r.counts.failovers} failovers, ${r.plan.benign ? 'benign' : r.plan.enabled.length + ' fault kinds'})`);
    } else {
      failed++;
      console.log(failure(r, tail));
    }
  }
  const wall = performance.now() - t0;
  console.log(`simulated ${(simMs / 3_600_000).toFixed(2)} h in ${(wall / 1000).toFixed(1)} s wall, ${(cpuMs / 1000).toFixed(1)} s CPU: ${(simMs / wall).toFixed(0)} simulated s per wall s (${(simMs / cpuMs).toFixed(0)} per CPU s, ${((simMs / 3_600_000) / (cpuMs / 60_000)).toFixed(2)} simulated h per CPU min), ${((n / wall) * 60_000).toFixed(1)} runs per minute`);
  console.log(`fault kinds exercised (events, or runs for whole-run rates): ${[...faultCounts].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
