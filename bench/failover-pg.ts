/**
 * Real failover time of a PostgreSQL primary/standby pair (not a test), drc beside
 * pg_auto_failover in one run. A client writes continuously (one INSERT at a time, finding the
 * writable host the way libpq's target_session_attrs=read-write does); the primary is killed
 * with SIGKILL; RTO = time until the client's next write commits on the new primary; lost =
 * writes acknowledged before the kill and missing after.
 *   drc:     kill -9 of the primary's postmaster (the agent reports it, the coordinator fails over)
 *   pg_auto_failover: kill -9 of the whole primary node (keeper + postmaster: its keeper
 *            would otherwise restart PostgreSQL in place), at its default settings and at
 *            detection settings equal to drc's.
 * Options (after `--`): --runs N (default 5), --skip-pgaf, --skip-default (pg_auto_failover's
 * defaults take about 50 s per run).
 * Writes bench/results/failover-pg.json.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ContinuousWriter, eventually, pgDriverFor, startEstate, startPostgresPair, type PostgresServer } from '@drc/test-kit';
import { startPgafFormation, type PgafTiming } from './_pgaf';
import { printTable, writeResults } from './_util';

const arg = (name: string) => process.argv.includes(`--${name}`);
const num = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};

/** drc's detection settings: how often agents probe, and how long a failure must last. */
const PROBE_MS = 250;
const DEBOUNCE_MS = 500;
const DETECTION_MS = PROBE_MS + DEBOUNCE_MS;
/** pg_auto_failover's monitor tuned to the same detection budget. */
const PGAF_EQUAL: PgafTiming = { healthCheckPeriodMs: PROBE_MS, healthCheckTimeoutMs: PROBE_MS, healthCheckMaxRetries: 1, healthCheckRetryDelayMs: PROBE_MS, unhealthyTimeoutMs: DEBOUNCE_MS, primaryDemoteTimeoutMs: DEBOUNCE_MS };

interface Run {
  rtoMs: number;
  lost: number;
  [k: string]: number;
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? 0, min: s[0] ?? 0, max: s.at(-1) ?? 0, runs: s.length };
};

async function measureDrc(runs: number): Promise<Run[]> {
  const pair = await startPostgresPair('benchfo');
  const estate = await startEstate(
    {
      coordinator: { siteLeaseTtlMs: 3000, startupGraceMs: 2000 },
      defaults: { policy: { debounceMs: DEBOUNCE_MS, fenceMarginMs: 500, rpoSeconds: 5, maxDataLossSeconds: 5, autoReprotect: false, cooldownSeconds: 0 } },
      sites: [{ id: 'A', priority: 1 }, { id: 'B', priority: 1 }, { id: 'C', priority: 3 }],
      workloads: [{ id: 'pgdb', kind: 'database', driver: pgDriverFor(pair, 'A', 'B'), primarySite: 'A', replicaSites: ['B'] }],
    },
    'benchfo',
    { agentArgs: () => ['--heartbeat-ms', String(PROBE_MS)], env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' } },
  );
  const nodeAt: Record<string, PostgresServer> = { A: pair.primary, B: pair.standby };
  const out: Run[] = [];
  const writer = new ContinuousWriter([pair.primary, pair.standby].map((n) => ({ host: '127.0.0.1', port: n.port })), { user: 'postgres', database: 'postgres' });
  try {
    const api = `http://127.0.0.1:${estate.coordinators[0]!.port}`;
    const inSync = async () => {
      const v = await estate.workload('pgdb');
      return v.state === 'protected' && v.replicas.every((r) => r.siteId === v.primarySite || (r.role === 'replica' && r.lagSeconds === 0)) ? v : undefined;
    };
    await eventually(inSync, 90_000, 100);
    await writer.prepare();
    writer.start();
    for (let i = 0; i < runs; i++) {
      const before = await eventually(inSync, 120_000, 100);
      await new Promise((r) => setTimeout(r, 1000)); // steady writes before the kill
      const victim = nodeAt[before.primarySite]!;
      // SIGKILL of the postmaster, without waiting (kill9() waits for the backends to exit, and
      // would stall this process's writer meanwhile).
      const pid = Number(readFileSync(join(victim.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      const rtoMs = await writer.firstWriteElsewhere(killedAt, victim.port, 60_000);
      await eventually(async () => (await estate.workload('pgdb')).state === 'failedOver', 60_000, 100);
      const lost = (await writer.lostWrites()).filter((l) => l.at <= killedAt).length;
      // Where the time went, from the recorded events (ms after the kill).
      const events = (await estate.events('pgdb')) as Array<{ type: string; data: Record<string, unknown>; recordedAt?: string }>;
      const after = (type: string, pred: (d: Record<string, unknown>) => boolean = () => true) => {
        const e = events.find((x) => x.type === type && x.recordedAt && Date.parse(x.recordedAt) >= killedAt && pred(x.data));
        return e?.recordedAt ? Date.parse(e.recordedAt) - killedAt : -1;
      };
      const breakdown = { observed: after('PrimaryFailureObserved'), failoverStarted: after('FailoverStarted'), promoteSent: after('CommandIssued', (d) => (d.command as { action?: string }).action === 'promote'), promoted: after('PromoteConfirmed') };
      out.push({ rtoMs, lost, ...breakdown });
      if (process.env.FODBG) for (const e of events.filter((x) => x.recordedAt && Date.parse(x.recordedAt) >= killedAt).slice(0, 40)) console.log('   ', Date.parse(e.recordedAt!) - killedAt, e.type, JSON.stringify(e.data).slice(0, 140));
      console.log(`  drc run ${i + 1}: RTO ${rtoMs} ms, lost ${lost}; observed +${breakdown.observed}, failover +${breakdown.failoverStarted}, promote sent +${breakdown.promoteSent}, confirmed +${breakdown.promoted}`);
      // Bring the crashed node back as a standby for the next run.
      const res = await fetch(`${api}/api/v1/workloads/pgdb/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ command: 'reprotect' }) });
      if (res.status !== 202) throw new Error(`reprotect: ${res.status} ${await res.text()}`);
    }
  } finally {
    await writer.stop();
    await estate.stop();
    pair.stop();
  }
  return out;
}

async function measurePgaf(runs: number, timing: PgafTiming | 'default'): Promise<Run[]> {
  const out: Run[] = [];
  // A fresh formation per run: a node that rejoined after a failover did not always take over
  // again here, and each run should start from the same healthy state anyway.
  for (let i = 0; i < runs; i++) {
    const f = await startPgafFormation(timing === 'default' ? 'pgafdef' : 'pgafeq');
    const writer = new ContinuousWriter(f.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { user: 'drcpg', database: 'postgres' });
    try {
      await f.setTiming(timing);
      const primary = await f.waitHealthy(180_000);
      await writer.prepare();
      writer.start();
      await new Promise((r) => setTimeout(r, 2000)); // steady writes, and the new timing in effect
      const killedAt = Date.now();
      f.killNode(primary);
      const rtoMs = await writer.firstWriteElsewhere(killedAt, primary.port, 180_000);
      const lost = (await writer.lostWrites()).filter((l) => l.at <= killedAt).length;
      out.push({ rtoMs, lost });
      console.log(`  pg_auto_failover (${timing === 'default' ? 'defaults' : 'equal detection'}) run ${i + 1}: RTO ${rtoMs} ms, lost ${lost}`);
    } finally {
      await writer.stop();
      await f.stop();
    }
  }
  return out;
}

export default async function run(): Promise<void> {
  const runs = num('runs', 5);
  console.log(`failover-pg: ${runs} runs each; drc detection = ${PROBE_MS} ms probe + ${DEBOUNCE_MS} ms debounce`);
  const drc = await measureDrc(runs);
  const equal = arg('skip-pgaf') ? [] : await measurePgaf(runs, PGAF_EQUAL);
  const dflt = arg('skip-pgaf') || arg('skip-default') ? [] : await measurePgaf(runs, 'default');
  const d = stats(drc.map((r) => r.rtoMs));
  const e = stats(equal.map((r) => r.rtoMs));
  const f = stats(dflt.map((r) => r.rtoMs));
  const rows: Array<Array<string | number>> = [['drc', d.median, d.min, d.max, Math.max(0, ...drc.map((r) => r.lost)), DETECTION_MS + 500]];
  if (equal.length) rows.push(['pg_auto_failover, equal detection', e.median, e.min, e.max, Math.max(0, ...equal.map((r) => r.lost)), '']);
  if (dflt.length) rows.push(['pg_auto_failover, defaults', f.median, f.min, f.max, Math.max(0, ...dflt.map((r) => r.lost)), '']);
  printTable(['system', 'RTO median ms', 'min', 'max', 'lost writes (max)', 'target ms'], rows);
  if (equal.length) console.log(`ratio at equal detection: pg_auto_failover / drc = ${(e.median / d.median).toFixed(2)}`);
  if (dflt.length) console.log(`ratio at defaults: pg_auto_failover / drc = ${(f.median / d.median).toFixed(1)} (target ≥ 10)`);
  const file = writeResults('failover-pg', {
    cores: availableParallelism(),
    detectionThresholdMs: DETECTION_MS,
    drc: { rtoMs: d, lostWrites: { max: Math.max(0, ...drc.map((r) => r.lost)) }, runs: drc },
    ...(equal.length ? { pgAutoFailoverEqual: { rtoMs: e, lostWrites: { max: Math.max(0, ...equal.map((r) => r.lost)) }, settings: PGAF_EQUAL, runs: equal } } : {}),
    ...(dflt.length ? { pgAutoFailoverDefault: { rtoMs: f, lostWrites: { max: Math.max(0, ...dflt.map((r) => r.lost)) }, runs: dflt } } : {}),
    targets: { drcMedianRtoMs: DETECTION_MS + 500, fasterThanPgafAtEqualDetection: true, defaultsRatio: 10 },
  });
  console.log(`wrote ${file}`);
}
