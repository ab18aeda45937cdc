/**
 * Replay speed (not a test): recorded workload streams (a flapping primary, lag samples, a
 * failover with its timers and command results, as the runner records them) folded through the
 * current statechart, the way `drc replay verify`, rehydration and `show --at` do. Prints
 * events/s against the target of 200,000; writes bench/results/replay.json.
 * Options: --events N (default 1,000,000).
 */
import { DEFAULT_POLICY, type WorkloadInput, type WorkloadSetup } from '@drc/contracts';
import { foldWorkloadStream, recordStream, simulateInputs, verifyReplay, type HistoryEvent } from '@drc/history';
import { printTable, writeResults } from './_util';

const num = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};

function stream(i: number): HistoryEvent[] {
  const setup: WorkloadSetup = {
    workloadId: `w${i}`, primarySite: 'A', sites: [{ siteId: 'A', priority: 1 }, { siteId: 'B', priority: 2 }, { siteId: 'C', priority: 3 }],
    policy: { ...DEFAULT_POLICY, debounceMs: 1000, fenceMarginMs: 200 }, epoch: 0, at: 0,
  };
  const external: WorkloadInput[] = [];
  for (let t = 1; t <= 40; t++) external.push({ type: 'REPLICA_STATUS', at: t * 100, siteId: t % 2 ? 'B' : 'C', healthy: true, role: 'replica', position: String(t * 1000), lagSeconds: (t % 7) / 10 });
  external.push({ type: 'PRIMARY_FAILED', at: 5000, siteId: 'A', reason: 'unhealthy', evidence: ['probe failed'] }, { type: 'PRIMARY_RECOVERED', at: 5400, siteId: 'A' });
  external.push({ type: 'SITE_STATUS', at: 9000, siteId: 'A', status: 'lost', leaseExpiredAt: 8800, evidence: [] }, { type: 'PRIMARY_FAILED', at: 9000, siteId: 'A', reason: 'siteLost', evidence: ['lease expired'], leaseExpiredAt: 8800 });
  return recordStream(setup, simulateInputs(setup, external, { deadSites: ['A'] }));
}

export default async function run(): Promise<void> {
  const target = num('events', 1_000_000);
  const template = stream(0);
  const perStream = template.length;
  const streams: HistoryEvent[][] = [];
  let total = 0;
  for (let i = 0; total < target; i++) {
    const s = i < 50 ? stream(i) : streams[i % 50]!; // 50 distinct streams, reused: the fold does the same work
    streams.push(s);
    total += s.length;
  }
  // Warm up, then time the folds.
  for (const s of streams.slice(0, 50)) foldWorkloadStream(s);
  const t0 = performance.now();
  let folded = 0;
  for (const s of streams) folded += foldWorkloadStream(s).version;
  const foldMs = performance.now() - t0;
  const eventsPerSec = folded / (foldMs / 1000);
  // verify (fold + compare every recorded decision) on a tenth of them.
  const some = streams.slice(0, Math.ceil(streams.length / 10));
  const t1 = performance.now();
  let verified = 0;
  for (const s of some) {
    const r = verifyReplay(s);
    if (r.mismatches.length) throw new Error(`replay mismatch in ${s[0]?.stream}: ${JSON.stringify(r.mismatches[0])}`);
    verified += s.length;
  }
  const verifyPerSec = verified / ((performance.now() - t1) / 1000);
  printTable(['measure', 'value', 'target'], [
    ['events folded', folded, ''],
    ['streams (events each)', `${streams.length} (${perStream})`, ''],
    ['fold: events/s', eventsPerSec, '≥ 200,000'],
    ['verify (fold + compare): events/s', verifyPerSec, ''],
  ]);
  console.log(`wrote ${writeResults('replay', { events: folded, eventsPerSec, verifyEventsPerSec: verifyPerSec, eventsPerStream: perStream, streams: streams.length, target: { eventsPerSec: 200_000 } })}`);
}
