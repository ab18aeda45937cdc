import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSubjects, EventMetadataSchema, FailoverReportSchema, workloadStream } from '@drc/contracts';
import { createPostgresEventStore } from '@drc/event-store';
import { recordSiteLoss } from '@drc/history';
import { createTestDatabase, deleteStreams, freePort, natsUrl, startProcess, uniquePrefix, type ManagedProcess, type TestDatabase } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `drc history`, `show --at`, `report` and `failovers` run as processes against a real
 * coordinator process, which rehydrates a recorded site loss of `orders` from PostgreSQL. The
 * stream is appended in two parts, `middle` apart, so "before" and "after" are real times.
 */
describe('drc history, show --at, report, failovers - against a real coordinator', () => {
  let db: TestDatabase;
  let coordinator: ManagedProcess;
  let api: string;
  let middle: string;
  let firstPart: number;
  const prefix = uniquePrefix('clihist');
  const drc = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'services/cli/src/main.ts'), ...args, '--api', api], { cwd: repo, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });

  beforeAll(async () => {
    db = await createTestDatabase('clihist');
    const store = createPostgresEventStore({ url: db.url });
    await store.init();
    const { events } = recordSiteLoss({ workloadId: 'orders', at: Date.now() - 3_600_000, samples: 5 });
    const toNew = (e: (typeof events)[number]) => ({ id: randomUUID(), type: e.type, data: e.data, metadata: EventMetadataSchema.parse(e.metadata) });
    firstPart = events.findIndex((e) => e.type === 'FailoverStarted');
    while (events[firstPart]!.type !== 'TimerFired') firstPart--;
    await store.append(workloadStream('orders'), events.slice(0, firstPart).map(toNew), { expectedVersion: 0 });
    await sleep(150);
    middle = new Date().toISOString();
    await sleep(150);
    await store.append(workloadStream('orders'), events.slice(firstPart).map(toNew), { expectedVersion: firstPart });
    await store.close();

    const dir = mkdtempSync(join(tmpdir(), 'drc-clihist-'));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
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
    coordinator = startProcess({
      name: 'clihist-coordinator',
      command: process.execPath,
      args: ['--import', 'tsx', 'services/coordinator/src/main.ts', '--config', config, '--id', 'clihist'],
      cwd: repo,
      env: { DATABASE_URL: db.url, LOG_LEVEL: 'warn', NATS_URL: natsUrl() },
      logFile: join(dir, 'coordinator.log'),
    });
    await coordinator.waitFor(/listening on http/, 60_000);
  });

  afterAll(async () => {
    await coordinator?.stop();
    await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_'));
    await db?.drop();
  });

  it('history WORKLOAD: the timeline with observations, evidence, candidates, commands, results and the failover', () => {
    const r = drc(['history', 'orders']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/#1 +registration +registered: primary A, sites A\(1\) B\(2\) C\(3\)/);
    expect(r.stdout).toMatch(/observation +primary A failed \(unhealthy\) +\[system:test\]\n +evidence: probe failed: connection refused/);
    expect(r.stdout).toMatch(/candidate C: eligible; .*not chosen: B ranks higher/);
    expect(r.stdout).toMatch(/command +promote → B \(epoch 1/);
    expect(r.stdout).toMatch(/result +promote on B: done after 0.10 s/);
    expect(r.stdout).toMatch(/decision +failover completed A → B, epoch 1, RTO 0.30 s, data loss 0.5 s/);
    expect(r.stdout).not.toMatch(/TimerScheduled|timer \S+ armed/);
    expect(drc(['history', 'orders', '--all']).stdout).toMatch(/timer \S+ armed for 1 s/);
  });

  it('history --from/--to select by recorded time (ISO or -2h); --json keeps the failovers; --csv; a bad time exits 2', () => {
    const after = drc(['history', 'orders', '--from', middle, '--json']);
    expect(after.status, after.stderr).toBe(0);
    const body = JSON.parse(after.stdout) as { entries: Array<{ position: number; type: string; recordedAt: string }>; failovers: Array<{ fromSite: string; toSite: string }>; from: string };
    expect(body.from).toBe(middle);
    expect(body.entries[0]).toMatchObject({ position: firstPart + 1, type: 'TimerFired' });
    expect(body.entries.every((e) => e.recordedAt >= middle)).toBe(true);
    expect(body.entries.some((e) => e.type === 'FailoverCompleted')).toBe(true);
    expect(body.failovers).toEqual([expect.objectContaining({ fromSite: 'A', toSite: 'B' })]);

    const before = drc(['history', 'orders', '--to', middle, '--csv']);
    expect(before.status, before.stderr).toBe(0);
    const rows = before.stdout.trimEnd().split('\r\n');
    expect(rows[0]).toBe('position,recordedAt,at,kind,type,actor,summary,details');
    expect(rows.slice(1).every((row) => Number(row.split(',')[0]) <= firstPart)).toBe(true);
    expect(before.stdout).toMatch(/\nReplicaStatusObserved|,ReplicaStatusObserved,/);
    expect(before.stdout).not.toMatch(/FailoverStarted/);

    const relative = drc(['history', 'orders', '--from', '-2h', '--json']);
    expect(relative.status, relative.stderr).toBe(0);
    expect((JSON.parse(relative.stdout) as { entries: unknown[] }).entries.length).toBeGreaterThan(firstPart);
    expect(JSON.parse(drc(['history', 'orders', '--to', '-2h', '--json']).stdout)).toMatchObject({ entries: [] });

    const bad = drc(['history', 'orders', '--from', 'yesterday']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--from <time>.*'yesterday' is invalid\. expected an ISO-8601 time/);
  });

  it('history without a workload and failovers: the failover table (from, to, epoch, RTO, data loss)', () => {
    const all = drc(['history']);
    expect(all.status, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/orders\s+A\s+B\s+1\s+0\.3\s+0\.5/);
    const one = drc(['failovers', 'orders', '--json']);
    expect(one.status, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ failovers: [{ workloadId: 'orders', fromSite: 'A', toSite: 'B', epoch: 1, rtoMs: 300 }] });
  });

  it('show --at: the workload as it was before the failover (A primary, epoch 0), and as it is now', () => {
    const then = drc(['show', 'orders', '--at', middle]);
    expect(then.status, then.stderr).toBe(0);
    expect(then.stdout).toMatch(new RegExp(`^as of ${middle.replace(/\./g, '\\.')} \\(history up to stream position ${firstPart}, recorded `));
    expect(then.stdout).toMatch(/orders {2}suspect/);
    expect(then.stdout).toMatch(/primary A {2}epoch 0/);
    expect(then.stdout).toMatch(/no failovers recorded/);
    const json = JSON.parse(drc(['show', 'orders', '--at', middle, '--json']).stdout) as { position: number; workload: { primarySite: string } };
    expect(json).toMatchObject({ position: firstPart, workload: { primarySite: 'A', epoch: 0 } });
    const now = drc(['show', 'orders']);
    expect(now.stdout).toMatch(/orders {2}failedOver/);
    expect(now.stdout).toMatch(/primary B {2}epoch 1/);
    const early = drc(['show', 'orders', '--at', '2001-01-01']);
    expect(early.status).toBe(1);
    expect(early.stderr).toMatch(/404 nothing was recorded for workload "orders" at or before 2001-01-01T00:00:00.000Z/);
  });

  it('report: the latest failover by default, by number, as JSON; an unknown number exits 1, a bad one 2', () => {
    const text = drc(['report', 'orders']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^failover 1 of 1 {2}orders {2}A → B {2}completed {2}\(unplanned, epoch 1\)/);
    expect(text.stdout).toMatch(/fence \(lease expired\) +\S+ \S+ +0\.10 s/);
    expect(text.stdout).toMatch(/RTO 0\.30 s/);
    expect(text.stdout).toMatch(/position gap 100/);
    const json = FailoverReportSchema.parse(JSON.parse(drc(['report', 'orders', '1', '--json']).stdout));
    expect(json).toMatchObject({ number: 1, rtoMs: 300, totalMs: 1300, dataLoss: { positionGap: '100', seconds: 0.5 } });
    const missing = drc(['report', 'orders', '2']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/404 workload "orders" has failovers 1 to 1/);
    expect(drc(['report', 'orders', 'second']).status).toBe(2);
  });
});
