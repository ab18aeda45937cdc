/**
 * History reads (not a test): a workload stream of 10,000 recorded events (replication readings,
 * then a site loss and its failover, as the runner records them) in a fresh PostgreSQL event
 * store, served by a real coordinator process. Times, end to end:
 *   - `drc history W`: the CLI's own code path (loadTimeline: every page of events over HTTP,
 *     parsed, turned into the timeline, rendered), in process, and the whole `drc` process;
 *   - the same with --from (the API filters by recorded time);
 *   - `show --at` (GET state?at=, a fold of the stream) and `report` (GET failovers/latest/report).
 * Target: the timeline in under 1 s. Options: --events N (default 10000), --runs N (default 5).
 * Writes bench/results/history.json.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApiClient, loadTimeline, renderTimeline } from '@drc/cli';
import { createSubjects, EventMetadataSchema, workloadStream } from '@drc/contracts';
import { createPostgresEventStore } from '@drc/event-store';
import { recordSiteLoss } from '@drc/history';
import { createTestDatabase, deleteStreams, freePort, natsUrl, startProcess, uniquePrefix } from '@drc/test-kit';
import { stringify } from 'yaml';
import { percentile, printTable, writeResults } from './_util';

const num = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};
const repo = fileURLToPath(new URL('..', import.meta.url));

/** Median and max of `runs` timed calls of `fn`, after one warm-up call. */
async function timed(runs: number, fn: () => Promise<unknown>): Promise<{ medianMs: number; maxMs: number }> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return { medianMs: percentile(ms, 50), maxMs: Math.max(...ms) };
}

export default async function run(): Promise<void> {
  const target = num('events', 10_000);
  const runs = num('runs', 5);
  // The episode's length is fixed: size the readings so the stream has exactly `target` events.
  const probe = recordSiteLoss({ workloadId: 'orders', at: 0, samples: 0 }).events.length;
  const { events } = recordSiteLoss({ workloadId: 'orders', at: Date.now() - 86_400_000, samples: Math.max(0, target - probe) });

  const db = await createTestDatabase('benchhist');
  const prefix = uniquePrefix('benchhist');
  const dir = mkdtempSync(join(tmpdir(), 'drc-benchhist-'));
  const store = createPostgresEventStore({ url: db.url });
  let coordinator: ReturnType<typeof startProcess> | undefined;
  try {
    await store.init();
    const t0 = performance.now();
    for (let i = 0; i < events.length; i += 1000) {
      const batch = events.slice(i, i + 1000).map((e) => ({ id: randomUUID(), type: e.type, data: e.data, metadata: EventMetadataSchema.parse(e.metadata) }));
      await store.append(workloadStream('orders'), batch, { expectedVersion: i });
    }
    const appendMs = performance.now() - t0;
    await store.close();

    const port = await freePort();
    const config = join(dir, 'drc.yaml');
    writeFileSync(
      config,
      stringify({
        nats: { url: natsUrl(), prefix },
        coordinator: { httpPort: port, httpHost: '127.0.0.1', startupGraceMs: 600_000 },
        sites: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
        workloads: [{ id: 'orders', driver: 'sim', primarySite: 'A', replicaSites: ['B', 'C'] }],
      }),
    );
    const t1 = performance.now();
    coordinator = startProcess({
      name: 'bench-history-coordinator',
      command: process.execPath,
      args: ['--import', 'tsx', 'services/coordinator/src/main.ts', '--config', config, '--id', 'bench-history'],
      cwd: repo,
      env: { DATABASE_URL: db.url, LOG_LEVEL: 'warn', NATS_URL: natsUrl() },
      logFile: join(dir, 'coordinator.log'),
    });
    await coordinator.waitFor(/listening on http/, 120_000);
    const startupMs = performance.now() - t1;
    const url = `http://127.0.0.1:${port}`;
    const api = createApiClient(url);

    let entries = 0;
    const timeline = await timed(runs, async () => {
      const list = await loadTimeline(api, 'orders');
      entries = list.length;
      renderTimeline(list);
    });
    if (entries < events.length) throw new Error(`timeline has ${entries} entries, expected at least ${events.length}`);
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const windowed = await timed(runs, async () => renderTimeline(await loadTimeline(api, 'orders', { from })));
    const stateAt = await timed(runs, () => api.stateAt('orders', new Date().toISOString()));
    const report = await timed(runs, () => api.failoverReport('orders', 'latest'));
    const cli: number[] = [];
    for (let i = 0; i < Math.min(runs, 3); i++) {
      const t = performance.now();
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'services/cli/src/main.ts'), 'history', 'orders', '--api', url], { cwd: repo, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 256 * 1024 * 1024 });
      cli.push(performance.now() - t);
      if (r.status !== 0) throw new Error(`drc history exited ${r.status}: ${r.stderr}`);
    }
    const cliMs = percentile(cli, 50);
    const noop = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'services/cli/src/main.ts'), '--version'], { cwd: repo, encoding: 'utf8' });
    if (noop.status !== 0) throw new Error(`drc --version exited ${noop.status}`);
    const t2 = performance.now();
    spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'services/cli/src/main.ts'), '--version'], { cwd: repo, encoding: 'utf8' });
    const cliStartMs = performance.now() - t2;

    printTable(['measure', 'median ms', 'max ms', 'target'], [
      [`drc history (${events.length} events → ${entries} entries; API pages, timeline, render)`, timeline.medianMs, timeline.maxMs, '< 1,000'],
      ['same with --from (last hour: the API filters by recorded time)', windowed.medianMs, windowed.maxMs, ''],
      ['show --at (GET state?at=: fold of the stream)', stateAt.medianMs, stateAt.maxMs, ''],
      ['report (GET failovers/latest/report)', report.medianMs, report.maxMs, ''],
      ['`drc history` as a process (incl. Node + tsx start)', cliMs, Math.max(...cli), ''],
      ['`drc --version` as a process (start-up alone)', cliStartMs, cliStartMs, ''],
      ['append the stream (1,000 per batch)', appendMs, appendMs, ''],
      ['coordinator start (rehydrates the stream)', startupMs, startupMs, ''],
    ]);
    console.log(
      `wrote ${writeResults('history', {
        events: events.length,
        entries,
        runs,
        timelineMs: timeline,
        windowedTimelineMs: windowed,
        stateAtMs: stateAt,
        reportMs: report,
        cliProcessMs: { medianMs: cliMs, maxMs: Math.max(...cli) },
        cliStartMs,
        appendMs,
        coordinatorStartMs: startupMs,
        target: { timelineMs: 1000 },
      })}`,
    );
  } finally {
    await coordinator?.stop();
    await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_')).catch(() => undefined);
    await db.drop();
  }
}
