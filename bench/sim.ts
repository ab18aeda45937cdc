/**
 * Simulator speed (issue 18 §2: at least 100 simulated hours of a 3-site, 20-workload estate
 * per CPU minute). Runs a fixed set of seeds of a 3-site, 20-workload estate with one
 * coordinator, calm (no fault at all) and with each seed's own faults, and prints simulated
 * seconds per wall second and per CPU second, simulated hours per CPU minute and runs per
 * minute; writes bench/results/sim.json.
 *
 * The machine is often shared: the table also prints the load average before and after, and a
 * calibration (a fixed pure-JS loop timed before the runs: its CPU ms, and its wall/CPU ratio,
 * which is above 1 when this process waited for a core). Compare CPU figures across machines
 * with the calibration's CPU ms beside them.
 * Options: --duration SECONDS (default 300), --calm N (calm seeds, default 2), --faults N
 * (seeds with faults, from 1001, default 3).
 */
import { loadavg } from 'node:os';
import { runEstate, type RunResult } from '@drc/simulator';
import { printTable, writeResults } from './_util';

const num = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};

/** A fixed CPU-bound loop (integer mixing and a small Map): ms of CPU and wall it took. */
function calibrate(): { cpuMs: number; wallMs: number } {
  const w0 = performance.now();
  const c0 = process.cpuUsage();
  let x = 1;
  const m = new Map<number, number>();
  for (let i = 0; i < 5_000_000; i++) {
    x = Math.imul(x ^ (x >>> 15), 2246822507) + i;
    if ((i & 1023) === 0) m.set(x & 4095, i);
  }
  if (m.size === 0) throw new Error('unreachable');
  const c = process.cpuUsage(c0);
  return { cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - w0 };
}

const CALM = { enabled: [], rates: {}, events: [], benign: true };

export default async function run(): Promise<void> {
  const durationMs = num('duration', 300) * 1000;
  const calmSeeds = Array.from({ length: num('calm', 2) }, (_, i) => 1 + i);
  const faultSeeds = Array.from({ length: num('faults', 3) }, (_, i) => 1001 + i);
  const load0 = loadavg();
  calibrate(); // warm-up
  const cal = calibrate();
  // Warm-up run (module loading, JIT): not counted.
  await runEstate({ seed: 1, durationMs: 30_000, workloads: 20, coordinators: 1, plan: () => CALM });
  const groups: Array<{ name: string; runs: RunResult[]; wallMs: number }> = [];
  for (const [name, seeds, calm] of [['calm', calmSeeds, true], ['faults', faultSeeds, false]] as const) {
    const runs: RunResult[] = [];
    const t0 = performance.now();
    for (const seed of seeds) runs.push(await runEstate({ seed, durationMs, workloads: 20, coordinators: 1, ...(calm ? { plan: () => CALM } : {}) }));
    groups.push({ name, runs, wallMs: performance.now() - t0 });
  }
  const load1 = loadavg();
  const rows: Array<Array<string | number>> = [];
  const out: Record<string, unknown> = {};
  for (const g of [...groups, { name: 'all', runs: groups.flatMap((x) => x.runs), wallMs: groups.reduce((n, x) => n + x.wallMs, 0) }]) {
    const sim = g.runs.reduce((n, r) => n + r.simulatedMs, 0);
    const cpu = g.runs.reduce((n, r) => n + r.cpuMs, 0);
    const steps = g.runs.reduce((n, r) => n + r.steps, 0);
    const m = {
      runs: g.runs.length,
      simulatedS: sim / 1000,
      simSPerWallS: sim / g.wallMs,
      simSPerCpuS: sim / cpu,
      simHPerCpuMin: sim / 3_600_000 / (cpu / 60_000),
      runsPerMin: (g.runs.length / g.wallMs) * 60_000,
      stepsPerCpuS: steps / (cpu / 1000),
      violations: g.runs.reduce((n, r) => n + r.violations.length, 0),
    };
    out[g.name] = { ...m, seeds: g.runs.map((r) => ({ seed: r.seed, hash: r.hash, steps: r.steps, cpuMs: r.cpuMs, wallMs: r.wallMs })) };
    rows.push([g.name, String(m.runs), m.simulatedS, m.simSPerWallS, m.simSPerCpuS, m.simHPerCpuMin, m.runsPerMin, m.stepsPerCpuS]);
  }
  printTable(['estate (3 sites, 20 workloads)', 'runs', 'simulated s', 'sim s / wall s', 'sim s / CPU s', 'sim h / CPU min', 'runs / min', 'steps / CPU s'], rows);
  console.log(`target: ≥ 100 simulated h per CPU minute; duration ${durationMs / 1000} s per run; calm seeds ${calmSeeds.join(', ')}, seeds with faults ${faultSeeds.join(', ')}`);
  console.log(`load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')}; calibration loop ${cal.cpuMs.toFixed(0)} ms CPU, wall/CPU ${(cal.wallMs / cal.cpuMs).toFixed(2)}`);
  console.log(`wrote ${writeResults('sim', { durationS: durationMs / 1000, load: { before: load0, after: load1 }, calibration: { ...cal, wallPerCpu: cal.wallMs / cal.cpuMs }, ...out, target: { simHPerCpuMin: 100 } })}`);
}
