import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSubjects, type WorkloadView } from '@drc/contracts';
import {
  createTestDatabase,
  deleteStreams,
  eventually,
  freePort,
  natsUrl,
  startPostgresPair,
  startProcess,
  startSplitBrainWatcher,
  stopAgentWatchdogs,
  uniquePrefix,
  type ManagedProcess,
  type PostgresPair,
  type PostgresServer,
  type SplitBrainWatcher,
  type TestDatabase,
} from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

/**
 * Issue 17, invariant 1 with a REAL PostgreSQL pair: the agent of the primary's site dies
 * (kill -9, crash, OOM) and stays down past its lease. The coordinator declares the site lost
 * and, lease expiry plus fenceMarginMs later, takes the old primary as fenced ("agents fence
 * themselves when their lease lapses") and promotes the standby. With the agent dead nobody
 * fenced the old primary: two writable primaries. The agent's watchdog process (watchdog/)
 * fences it at the lease deadline; an agent restarted within its lease takes the watchdog's
 * duty over, and nothing is fenced.
 */
const agentMain = fileURLToPath(new URL('../main.ts', import.meta.url));
const coordinatorMain = fileURLToPath(new URL('../../../coordinator/src/main.ts', import.meta.url));
const LEASE_MS = 6000;

describe('invariant 1 - the primary site agent dies: its watchdog fences the local PostgreSQL primary', () => {
  const dir = mkdtempSync(join(tmpdir(), 'drc-agent-watchdog-'));
  const prefix = uniquePrefix('agentwdog');
  const estate = join(dir, 'estate.yaml');
  /** Every agent process started (restarted ones too): their watchdogs are stopped at the end. */
  const started: ManagedProcess[] = [];
  const agents = new Map<string, ManagedProcess>();
  let pair: PostgresPair | undefined;
  let coordinator: ManagedProcess | undefined;
  let db: TestDatabase | undefined;
  let watcher: SplitBrainWatcher | undefined;
  let api = '';

  const startAgent = async (site: string) => {
    const p = startProcess({
      name: `agent-${site}`,
      command: process.execPath,
      args: ['--import', 'tsx', agentMain, '--config', estate, '--site', site, '--heartbeat-ms', '250', '--lease-ttl-ms', String(LEASE_MS), '--state-dir', join(dir, `state-${site}`)],
      env: { NATS_URL: natsUrl(), LOG_LEVEL: 'info' },
      logFile: join(dir, `agent-${site}.log`),
    });
    agents.set(site, p);
    started.push(p);
    await p.waitFor(new RegExp(`agent ${site} ready`), 30_000);
    return p;
  };
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${api}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const workload = () => get<WorkloadView>('/api/v1/workloads/pgdb');
  const eventTypes = async () => (await get<{ events: Array<{ type: string }> }>('/api/v1/workloads/pgdb/events')).events.map((e) => e.type);
  /** Whether the server takes a write now, and if not why (stopped, in recovery, read-only). */
  const takesWrites = async (pg: PostgresServer): Promise<true | string> => {
    if (!pg.isRunning()) return 'stopped';
    try {
      await pg.sql('CREATE TABLE IF NOT EXISTS wdog_probe (at timestamptz); INSERT INTO wdog_probe VALUES (now())');
      return true;
    } catch (e) {
      return `refused: ${(e as Error).message}`;
    }
  };

  beforeAll(async () => {
    pair = await startPostgresPair('wdog');
    db = await createTestDatabase('agentwdog');
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const node = (n: PostgresServer) => ({ host: '127.0.0.1', port: n.port, dataDir: n.dataDir, localConf: pair!.localConf(n) });
    writeFileSync(
      estate,
      stringify({
        nats: { url: natsUrl(), prefix },
        coordinator: { httpPort: port, startupGraceMs: 2000, siteLeaseTtlMs: LEASE_MS },
        defaults: { policy: { debounceMs: 500, fenceMarginMs: 500, rpoSeconds: 10, maxDataLossSeconds: 10, autoReprotect: false, cooldownSeconds: 0 } },
        sites: [{ id: 'A', priority: 1 }, { id: 'B', priority: 2 }],
        workloads: [
          {
            id: 'pgdb',
            kind: 'database',
            driver: { type: 'postgres', settings: { osUser: pair.primary.osUser, slot: pair.slot, streamTimeoutMs: 60_000 }, sites: { A: node(pair.primary), B: node(pair.standby) } },
            primarySite: 'A',
            replicaSites: ['B'],
          },
        ],
      }),
    );
    watcher = await startSplitBrainWatcher([
      { workloadId: 'pgdb', siteId: 'A', kind: 'postgres', host: '127.0.0.1', port: pair.primary.port },
      { workloadId: 'pgdb', siteId: 'B', kind: 'postgres', host: '127.0.0.1', port: pair.standby.port },
    ]);
    await Promise.all(['A', 'B'].map((s) => startAgent(s)));
    coordinator = startProcess({ name: 'coordinator', command: process.execPath, args: ['--import', 'tsx', coordinatorMain, '--config', estate, '--port', String(port)], env: { NATS_URL: natsUrl(), DATABASE_URL: db.url, LOG_LEVEL: 'info' }, logFile: join(dir, 'coordinator.log') });
    await coordinator.waitFor(/listening on http/, 30_000);
    await eventually(async () => {
      const w = await workload();
      return w.state === 'protected' && w.replicas.find((r) => r.siteId === 'B')?.lagSeconds === 0;
    }, 60_000, 250);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop()));
    for (const p of started) await stopAgentWatchdogs(p.output());
    await coordinator?.stop();
    await watcher?.stop();
    pair?.stop();
    await db?.drop();
    await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_'));
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('the primary site agent killed and started again within its lease: nothing is fenced, PostgreSQL stays writable, nothing moves', async () => {
    const first = agents.get('A')!;
    const killedAt = Date.now();
    await first.kill();
    await startAgent('A');
    const returnedAfterMs = Date.now() - killedAt;
    expect(returnedAfterMs, 'the agent must come back within the lease for this test to mean anything').toBeLessThan(LEASE_MS);
    // Well past the lease the killed agent held: the old primary took writes all along.
    while (Date.now() < killedAt + 2 * LEASE_MS) {
      expect(await takesWrites(pair!.primary), 'the primary at A after its agent restarted within the lease').toBe(true);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await workload()).toMatchObject({ state: 'protected', primarySite: 'A', epoch: 0 });
    expect(await eventTypes()).not.toContain('FailoverStarted');
    const all = started.map((p) => p.output()).join('\n');
    expect(all.split('\n').filter((l) => /watchdog fenced|lease ended with no agent renewing/.test(l)), 'watchdog fences').toEqual([]);
    // The killed run's watchdog did not outlive its purpose: the new run took its duty over.
    expect(first.output(), 'the killed agent run’s watchdog').toMatch(/took the duty over within the lease: stood down, nothing fenced/);
    await watcher!.assertNoSplitBrain('while the agent at A restarted within its lease');
  }, 120_000);

  it('the primary site agent killed and kept down past its lease: the old primary is fenced by the time the standby is promoted, no two writable primaries', async () => {
    const killedAt = Date.now();
    await agents.get('A')!.kill();
    // The coordinator loses A (lease expired, B no longer hears it), takes the lease expiry as a
    // fence and promotes B.
    const w = await eventually(async () => {
      const v = await workload();
      return v.state === 'failedOver' || v.state.startsWith('escalated') ? v : undefined;
    }, 60_000, 200);
    console.log(`[agent A killed past its lease] pgdb ${w.state} at ${w.primarySite} ${Date.now() - killedAt} ms after the kill`);
    expect(w, (await eventTypes()).join(', ')).toMatchObject({ state: 'failedOver', primarySite: 'B' });
    // A was never writable while B was (both sampled at >= 10 Hz throughout) ...
    await watcher!.assertNoSplitBrain('after the agent at A was killed past its lease');
    // ... and stays fenced.
    expect(await takesWrites(pair!.standby), 'the promoted standby at B').toBe(true);
    expect(await takesWrites(pair!.primary), 'the old primary at A after its site was failed over').not.toBe(true);
    const said = agents.get('A')!.output().split('\n').filter((l) => l.includes('site-agent-watchdog'));
    console.log(`[agent A killed past its lease] its watchdog:\n${said.map((l) => l.replace(/"(service|hostname|siteId|agentIncarnation)":"[^"]*",?/g, '')).join('\n')}`);
    expect(said.join('\n'), 'what the watchdog of the killed agent at A said').toMatch(/watchdog fenced the primary here/);
  }, 120_000);
});
