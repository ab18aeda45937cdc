import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSubjects, type SiteView, type WorkloadView } from '@drc/contracts';
import { createTestDatabase, deleteStreams, eventually, freePort, natsUrl, startProcess, uniquePrefix, type ManagedProcess, type TestDatabase } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'drc-agent-main-'));
const prefix = uniquePrefix('agentmain');
afterAll(async () => {
  await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_'));
  rmSync(dir, { recursive: true, force: true });
});
writeFileSync(
  join(dir, 'estate.yaml'),
  stringify({ nats: { url: natsUrl(), prefix }, sites: [{ id: 'fra' }, { id: 'ams' }], workloads: [{ id: 'w1', driver: 'sim', primarySite: 'fra', replicaSites: ['ams'] }] }),
);
const run = (args: string[]) => startProcess({ name: 'agent-main', command: process.execPath, args: ['--import', 'tsx', main, ...args], env: { NATS_URL: natsUrl(), LOG_LEVEL: 'warn' } });

describe('site agent process: its own config file', () => {
  it('rejects a bad agent config naming every bad field, and exits 2', async () => {
    writeFileSync(join(dir, 'bad.yaml'), stringify({ site: 'fra', config: 'estate.yaml', heartbeatMs: -5, witness: { peers: { ams: 'ftp://x' } }, bogus: 1 }));
    const p = run(['--agent-config', join(dir, 'bad.yaml')]);
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/heartbeatMs: expected a positive number of milliseconds/);
    expect(p.output()).toMatch(/witness\.peers\.ams: expected an http\(s\) URL/);
    expect(p.output()).toMatch(/bogus/);
  });

  it('starts from the agent config alone (estate path relative to it, state dir, witness), flags overriding it', async () => {
    const port = await freePort();
    writeFileSync(join(dir, 'agent.yaml'), stringify({ site: 'ams', config: 'estate.yaml', stateDir: 'state', heartbeatMs: 200, witness: { listen: `127.0.0.1:${port}` } }));
    const p = run(['--agent-config', join(dir, 'agent.yaml'), '--agent-id', 'ams-from-flag']);
    try {
      await p.waitFor(/agent ams ready/, 30_000);
      expect(p.output()).toMatch(new RegExp(`witness on :${port}`));
      const answer = (await (await fetch(`http://127.0.0.1:${port}/v1/witness`)).json()) as { siteId: string; agentId: string };
      expect(answer).toMatchObject({ siteId: 'ams', agentId: 'ams-from-flag' });
      expect(readdirSync(join(dir, 'state'))).toContain('agent-state.jsonl');
    } finally {
      await p.stop();
    }
  });
});

describe('site agent process: its watchdog', () => {
  it('starts its watchdog beside it: the agent heartbeats while its watchdog is not yet on duty (a restart is not lengthened by it)', async () => {
    const stateDir = join(dir, 'watchdog-state');
    writeFileSync(
      join(dir, 'estate-exec.yaml'),
      stringify({ nats: { url: natsUrl(), prefix }, sites: [{ id: 'fra' }, { id: 'ams' }], workloads: [{ id: 'svc', primarySite: 'fra', replicaSites: ['ams'], driver: { type: 'exec', sites: { fra: { role: 'primary' }, ams: { role: 'replica' } } } }] }),
    );
    const p = startProcess({ name: 'agent-main-watchdog', command: process.execPath, args: ['--import', 'tsx', main, '--config', join(dir, 'estate-exec.yaml'), '--site', 'fra', '--agent-id', 'fra-watchdog', '--state-dir', stateDir], env: { NATS_URL: natsUrl(), LOG_LEVEL: 'info' } });
    let watchdogPid: number | undefined;
    try {
      await p.waitFor(/watchdog pid \d+ started/, 30_000);
      watchdogPid = Number(/watchdog pid (\d+) started/.exec(p.output())![1]);
      // Held before it is on duty (its process takes a while to boot): it never says it is ready.
      process.kill(watchdogPid, 'SIGSTOP');
      await p.waitFor(/agent fra ready/, 20_000);
      expect(p.output(), 'the watchdog was on duty before it was stopped: nothing tested').not.toMatch(/watchdog on duty/);
    } finally {
      await p.stop();
      if (watchdogPid) {
        try {
          process.kill(watchdogPid, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
    }
  }, 60_000);
});

/**
 * Issue 17 item 2, with real processes: an agent's seq starts over with each process while its
 * id (<site>@<host>) stays the same, so the coordinator took every message of a restarted agent
 * for a replay. A restart shorter than the lease must move nothing; after a longer one the site
 * must be up again as soon as the new process is heard.
 */
describe('invariant 1a - an agent process restarted is heard again, not taken for a replay', () => {
  const coordinatorMain = fileURLToPath(new URL('../../coordinator/src/main.ts', import.meta.url));
  const restartPrefix = uniquePrefix('agentrestart');
  const LEASE_MS = 6000;
  const agents = new Map<string, ManagedProcess>();
  let coordinator: ManagedProcess | undefined;
  let db: TestDatabase | undefined;
  let api = '';
  const estate = join(dir, 'restart-estate.yaml');

  const startAgent = async (site: string) => {
    const p = startProcess({
      name: `agent-${site}`,
      command: process.execPath,
      args: ['--import', 'tsx', main, '--config', estate, '--site', site, '--heartbeat-ms', '250', '--lease-ttl-ms', String(LEASE_MS), '--state-dir', join(dir, `restart-state-${site}`)],
      env: { NATS_URL: natsUrl(), LOG_LEVEL: 'warn' },
    });
    agents.set(site, p);
    await p.waitFor(new RegExp(`agent ${site} ready`), 30_000);
    return p;
  };
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${api}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const siteStatus = async (site: string) => (await get<{ sites: SiteView[] }>('/api/v1/sites')).sites.find((s) => s.siteId === site)?.status;
  const eventTypes = async () => (await get<{ events: Array<{ type: string }> }>('/api/v1/workloads/w1/events')).events.map((e) => e.type);

  beforeAll(async () => {
    db = await createTestDatabase('agentrestart');
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    // par holds no copy: a restart of its agent past the lease puts only its status at stake.
    writeFileSync(
      estate,
      stringify({
        nats: { url: natsUrl(), prefix: restartPrefix },
        coordinator: { httpPort: port, startupGraceMs: 2000 },
        sites: [{ id: 'fra' }, { id: 'ams' }, { id: 'par' }],
        workloads: [{ id: 'w1', driver: 'sim', primarySite: 'fra', replicaSites: ['ams'] }],
      }),
    );
    await Promise.all(['fra', 'ams', 'par'].map((s) => startAgent(s)));
    coordinator = startProcess({ name: 'coordinator', command: process.execPath, args: ['--import', 'tsx', coordinatorMain, '--config', estate, '--port', String(port)], env: { NATS_URL: natsUrl(), DATABASE_URL: db.url, LOG_LEVEL: 'info' } });
    await coordinator.waitFor(/listening on http/, 30_000);
    await eventually(async () => (await get<{ sites: SiteView[] }>('/api/v1/sites')).sites.every((s) => s.status === 'up') && (await get<WorkloadView>('/api/v1/workloads/w1')).state === 'protected', 30_000, 200);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await coordinator?.stop();
    await db?.drop();
    await deleteStreams(createSubjects(restartPrefix).streams.agents.replace(/_AGENTS$/, '_'));
  });

  it('the primary site\'s agent killed and started again within the lease: the site never leaves up and nothing moves', async () => {
    const killedAt = Date.now();
    await agents.get('fra')!.kill();
    await startAgent('fra');
    const returnedAfterMs = Date.now() - killedAt;
    expect(returnedAfterMs, 'the agent must come back within the lease for this test to mean anything').toBeLessThan(LEASE_MS);
    // Watch fra until well past the lease it held when it was killed.
    const seen = new Set<string>();
    while (Date.now() < killedAt + 2 * LEASE_MS) {
      seen.add(String(await siteStatus('fra')));
      await new Promise((r) => setTimeout(r, 100));
    }
    const lines = coordinator!.output().split('\n');
    expect([...seen], `fra's status while and after its agent restarted; dead letters: ${lines.filter((l) => l.includes('dead-lettered')).slice(-2).join(' | ')}`).toEqual(['up']);
    expect(await get<WorkloadView>('/api/v1/workloads/w1')).toMatchObject({ state: 'protected', primarySite: 'fra' });
    expect(await eventTypes()).not.toContain('FailoverStarted');
    expect(lines.filter((l) => /replayed or reordered/.test(l))).toEqual([]);
  }, 120_000);

  it('an agent down for longer than the lease: its site is lost meanwhile and up again as soon as the new process is heard', async () => {
    await agents.get('par')!.kill();
    await eventually(async () => (await siteStatus('par')) === 'lost', 30_000, 200);
    await startAgent('par');
    await eventually(async () => (await siteStatus('par')) === 'up', 5_000, 100).catch(async (e: unknown) => {
      throw new Error(`${String(e)}: par is ${await siteStatus('par')}; last dead letter: ${coordinator!.output().split('\n').filter((l) => l.includes('dead-lettered')).slice(-1).join('')}`);
    });
  }, 120_000);
});
