import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSubjects, DriverConfigSchema, type DrcConfigInput, type SiteView, type WorkloadView } from '@drc/contracts';
import { stringify as toYaml } from 'yaml';
import { stopAgentWatchdogs } from './agent-watchdog';
import { natsUrl } from './env';
import { deleteStreams } from './nats';
import type { PostgresPair } from './pg-pair';
import { createTestDatabase, type TestDatabase } from './postgres';
import { freePort, startProcess, type ManagedProcess } from './process';
import { startSplitBrainWatcher, type SplitBrainWatcher, type WatchedCopy } from './split-brain-watcher';
import { uniquePrefix } from './unique';

/*
 * A whole estate as real processes (coordinators and site agents started by path, never
 * imported: the test kit sits below the services it starts), used by the e2e suite and by
 * the benches.
 */

/** The repository's root: the estate runs the services' entry points from it, as processes (never by import). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface EstateOptions {
  /** How many coordinators to start (one leads, the others stand by). */
  coordinators?: number;
  /** Extra environment for the agents (e.g. LOG_LEVEL). */
  agentEnv?: Record<string, string>;
  /** Extra environment for every process (coordinators and agents). */
  env?: Record<string, string>;
  /** Extra command-line arguments of one site's agent (e.g. its own NATS URL through a proxy). */
  agentArgs?: (siteId: string) => string[];
  /** A NATS server of the test's own (e.g. one it restarts) instead of the shared one. */
  natsUrl?: string;
  /** An event-store database of the test's own (e.g. on a private server it restarts). */
  databaseUrl?: string;
}

export interface Estate {
  dir: string;
  configFile: string;
  prefix: string;
  db: TestDatabase;
  apiUrl: string;
  /** The first coordinator (the leader when there is one coordinator). */
  coordinator: ManagedProcess;
  coordinators: Array<{ id: string; port: number; process: ManagedProcess }>;
  /** Starts (or restarts) a coordinator process on its own port; resolves when it listens. */
  startCoordinator(id: string, port?: number): Promise<{ id: string; port: number; process: ManagedProcess }>;
  /** The coordinator that currently leads (asks each /readyz). */
  leader(): Promise<{ id: string; port: number; process: ManagedProcess } | undefined>;
  agents: Map<string, ManagedProcess>;
  startAgent(siteId: string): Promise<ManagedProcess>;
  get<T>(path: string): Promise<T>;
  workload(id: string): Promise<WorkloadView>;
  sites(): Promise<SiteView[]>;
  events(id: string): Promise<Array<{ type: string; position: number; data: Record<string, unknown>; metadata: Record<string, unknown> }>>;
  /** Samples every copy at 10 Hz or more for the estate's whole life; checked after each test (see below). */
  splitBrainWatcher: SplitBrainWatcher;
  stop(): Promise<void>;
}

/**
 * The copies of an estate's workloads the split-brain watcher can sample: simulated copies
 * through the role files their agents keep in `simRoleDir` (the agents get
 * DRC_SIM_TEST_ROLE_DIR), PostgreSQL servers directly. Others (exec, libvirt) are listed in
 * `unwatched`.
 */
export function watchedCopiesOf(config: Pick<DrcConfigInput, 'workloads'>, simRoleDir: string): { copies: WatchedCopy[]; unwatched: string[] } {
  const copies: WatchedCopy[] = [];
  const unwatched: string[] = [];
  for (const w of config.workloads ?? []) {
    const driver = DriverConfigSchema.parse(w.driver);
    for (const siteId of [w.primarySite, ...w.replicaSites]) {
      const site = { ...driver.settings, ...driver.sites[siteId] };
      if (driver.type === 'sim') copies.push({ workloadId: w.id, siteId, kind: 'sim', roleFile: join(simRoleDir, `${w.id}@${siteId}.json`) });
      else if (driver.type === 'postgres' && typeof site.port === 'number') copies.push({ workloadId: w.id, siteId, kind: 'postgres', host: String(site.host ?? '127.0.0.1'), port: site.port });
      else unwatched.push(`${w.id}@${siteId} (${driver.type})`);
    }
  }
  return { copies, unwatched };
}

/**
 * Issue 17: every e2e test runs under a split-brain watcher. Each estate starts one and
 * registers it here while it runs; the e2e harness checks every running watcher after each
 * test (the test kit itself has no test-runner hooks, so a bench can start an estate too).
 */
const runningWatchers = new Set<SplitBrainWatcher>();

/** Not pure (reads the registry). The watchers of the estates running now, for an after-each check. */
export function runningEstateWatchers(): ReadonlySet<SplitBrainWatcher> {
  return runningWatchers;
}

/** Not pure. Starts a watcher registered for the after-each check; `finish()` stops it and throws on an overlap not yet reported. */
export async function startEstateWatcher(label: string, config: Pick<DrcConfigInput, 'workloads'>, simRoleDir: string): Promise<{ watcher: SplitBrainWatcher; finish(): Promise<void> }> {
  mkdirSync(simRoleDir, { recursive: true });
  const { copies, unwatched } = watchedCopiesOf(config, simRoleDir);
  if (unwatched.length > 0) console.log(`[split-brain watcher ${label}] not sampled (no role source for this driver): ${unwatched.join(', ')}`);
  const watcher = await startSplitBrainWatcher(copies);
  runningWatchers.add(watcher);
  return {
    watcher,
    async finish() {
      runningWatchers.delete(watcher);
      await watcher.stop();
      const { samples, elapsedMs } = watcher.stats();
      const rates = Object.values(samples).map((n) => n / Math.max(1, elapsedMs / 1000));
      console.log(`[split-brain watcher ${label}] ${copies.length} copies sampled for ${Math.round(elapsedMs / 1000)} s, ${rates.length ? Math.min(...rates).toFixed(1) : 0}-${rates.length ? Math.max(...rates).toFixed(1) : 0} Hz per copy`);
      await watcher.assertNoSplitBrain(`in ${label} after its last test`);
    },
  };
}

/** Starts a whole estate as real processes: one coordinator and one agent per site, on a fresh database and a unique subject prefix. */
export async function startEstate(config: Omit<DrcConfigInput, 'nats'>, label = 'e2e', opts: EstateOptions = {}): Promise<Estate> {
  const dir = mkdtempSync(join(tmpdir(), `drc-${label}-`));
  const prefix = uniquePrefix(label);
  const db: TestDatabase = opts.databaseUrl ? { url: opts.databaseUrl, name: 'private', drop: async () => {} } : await createTestDatabase(label);
  const nats = opts.natsUrl ?? natsUrl();
  const port = await freePort();
  const full = { ...config, nats: { url: nats, prefix }, coordinator: { ...config.coordinator, httpPort: port } };
  const configFile = join(dir, 'estate.yaml');
  writeFileSync(configFile, toYaml(full));
  const simRoleDir = join(dir, 'sim-roles');
  const watch = await startEstateWatcher(label, config, simRoleDir);
  const tsx = (name: string, script: string, args: string[], env: Record<string, string> = {}) =>
    startProcess({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', join(repoRoot, script), ...args],
      cwd: repoRoot,
      env: { NATS_URL: nats, LOG_LEVEL: 'info', ...opts.env, ...env },
      logFile: join(dir, `${name}.log`),
    });
  const coordinators: Array<{ id: string; port: number; process: ManagedProcess }> = [];
  let apiPort = port;
  const startCoordinator = async (id: string, p?: number) => {
    const cport = p ?? (coordinators.length === 0 ? port : await freePort());
    const proc = tsx(id, 'services/coordinator/src/main.ts', ['--config', configFile, '--id', id, '--port', String(cport)], { DATABASE_URL: db.url });
    const entry = { id, port: cport, process: proc };
    const existing = coordinators.findIndex((c) => c.id === id);
    if (existing >= 0) coordinators[existing] = entry;
    else coordinators.push(entry);
    await proc.waitFor(/listening on http/, 30_000);
    return entry;
  };
  const leader = async () => {
    for (const c of coordinators) {
      if (c.process.child.exitCode !== null || c.process.child.signalCode !== null) continue;
      const r = await fetch(`http://127.0.0.1:${c.port}/readyz`).then((x) => x.json() as Promise<{ role?: string }>).catch(() => undefined);
      if (r?.role === 'leader') return c;
    }
    return undefined;
  };
  const agents = new Map<string, ManagedProcess>();
  /** Every agent process started, restarted ones too: their watchdogs (which outlive them on purpose) are stopped with the estate. */
  const everyAgent: ManagedProcess[] = [];
  const stopWatchdogs = async () => {
    for (const a of everyAgent) await stopAgentWatchdogs(a.output());
  };
  const startAgent = async (siteId: string) => {
    const p = tsx(`agent-${siteId}`, 'services/site-agent/src/main.ts', ['--config', configFile, '--site', siteId, '--state-dir', join(dir, `state-${siteId}`), ...(opts.agentArgs?.(siteId) ?? [])], { DRC_SIM_TEST_ROLE_DIR: simRoleDir, ...opts.agentEnv });
    agents.set(siteId, p);
    everyAgent.push(p);
    await p.waitFor(new RegExp(`agent ${siteId} ready`), 30_000);
    return p;
  };
  const get = async <T>(path: string): Promise<T> => {
    // Ask whichever coordinator leads now (a standby answers 503 NOT_LEADER).
    const l = coordinators.length > 1 ? await leader() : coordinators[0];
    if (l) apiPort = l.port;
    const res = await fetch(`http://127.0.0.1:${apiPort}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  try {
    // Agents first (they create the streams they need): a coordinator that starts later hears
    // every site within a heartbeat, well inside its startup grace.
    await Promise.all((config.sites ?? []).map((s) => startAgent(s.id)));
    await startCoordinator(`${label}-coordinator`);
    for (let i = 2; i <= (opts.coordinators ?? 1); i++) await startCoordinator(`${label}-coordinator-${i}`);
  } catch (e) {
    await Promise.all([...coordinators.map((c) => c.process.stop()), ...[...agents.values()].map((a) => a.stop())]);
    await stopWatchdogs();
    await watch.finish().catch((w: unknown) => console.error(String(w)));
    await db.drop();
    throw e;
  }
  return {
    dir,
    configFile,
    prefix,
    db,
    apiUrl: `http://127.0.0.1:${port}`,
    coordinator: coordinators[0]!.process,
    coordinators,
    startCoordinator,
    leader,
    agents,
    startAgent,
    get,
    workload: (id) => get<WorkloadView>(`/api/v1/workloads/${id}`),
    sites: () => get<{ sites: SiteView[] }>('/api/v1/sites').then((r) => r.sites),
    events: (id) => get<{ events: Array<{ type: string; position: number; data: Record<string, unknown>; metadata: Record<string, unknown> }> }>(`/api/v1/workloads/${id}/events`).then((r) => r.events),
    splitBrainWatcher: watch.watcher,
    async stop() {
      // The watcher stops first: stopping agents one by one is not a moment to judge.
      const watched = watch.finish();
      await watched.catch(() => undefined);
      await Promise.all([...coordinators.map((c) => c.process.stop()), ...[...agents.values()].map((a) => a.stop())]);
      await stopWatchdogs();
      if (!opts.natsUrl) await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_'));
      await db.drop();
      await watched; // an overlap after the last test fails the file, once everything is cleaned up
    },
  };
}

/** Prints (and returns) a workload's last measured failover: RTO and data loss, as each chaos scenario reports. */
export async function reportFailover(estate: Estate, workloadId: string, scenario: string): Promise<{ rtoMs: number; dataLossSeconds: number | undefined }> {
  const done = (await estate.events(workloadId)).filter((e) => e.type === 'FailoverCompleted').at(-1);
  if (!done) throw new Error(`${workloadId}: no completed failover recorded`);
  const r = { rtoMs: Number(done.data.rtoMs), dataLossSeconds: done.data.dataLossSeconds === undefined ? undefined : Number(done.data.dataLossSeconds) };
  console.log(`[${scenario}] ${workloadId}: RTO ${r.rtoMs} ms, data loss ${r.dataLossSeconds ?? 'n/a'} s`);
  return r;
}

/**
 * The driver section of a workload on a real PostgreSQL pair: the primary's node at
 * `primarySite`, the standby's at `standbySite` (run by the agents as the pair's OS user).
 */
export function pgDriverFor(pair: PostgresPair, primarySite: string, standbySite: string, settings: Record<string, unknown> = {}): DrcConfigInput['workloads'] extends Array<infer W> | undefined ? W extends { driver: infer D } ? D : never : never {
  const node = (n: PostgresPair['primary']) => ({ host: '127.0.0.1', port: n.port, dataDir: n.dataDir, localConf: pair.localConf(n) });
  return {
    type: 'postgres',
    settings: { osUser: pair.primary.osUser, slot: pair.slot, streamTimeoutMs: 60_000, ...settings },
    sites: { [primarySite]: node(pair.primary), [standbySite]: node(pair.standby) },
  };
}
