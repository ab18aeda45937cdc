import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSubjects, type DrcConfigInput, type SiteView, type WorkloadView } from '@drc/contracts';
import {
  createTestDatabase,
  deleteStreams,
  freePort,
  natsUrl,
  startProcess,
  uniquePrefix,
  type ManagedProcess,
  type TestDatabase,
} from '@drc/test-kit';
import { stringify as toYaml } from 'yaml';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface Estate {
  dir: string;
  configFile: string;
  prefix: string;
  db: TestDatabase;
  apiUrl: string;
  coordinator: ManagedProcess;
  agents: Map<string, ManagedProcess>;
  startAgent(siteId: string): Promise<ManagedProcess>;
  get<T>(path: string): Promise<T>;
  workload(id: string): Promise<WorkloadView>;
  sites(): Promise<SiteView[]>;
  events(id: string): Promise<Array<{ type: string; position: number; data: Record<string, unknown>; metadata: Record<string, unknown> }>>;
  stop(): Promise<void>;
}

/** Starts a whole estate as real processes: one coordinator and one agent per site, on a fresh database and a unique subject prefix. */
export async function startEstate(config: Omit<DrcConfigInput, 'nats'>, label = 'e2e'): Promise<Estate> {
  const dir = mkdtempSync(join(tmpdir(), `drc-${label}-`));
  const prefix = uniquePrefix(label);
  const db = await createTestDatabase(label);
  const port = await freePort();
  const full = { ...config, nats: { url: natsUrl(), prefix }, coordinator: { ...config.coordinator, httpPort: port } };
  const configFile = join(dir, 'estate.yaml');
  writeFileSync(configFile, toYaml(full));
  const tsx = (name: string, script: string, args: string[], env: Record<string, string> = {}) =>
    startProcess({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', join(repoRoot, script), ...args],
      cwd: repoRoot,
      env: { NATS_URL: natsUrl(), LOG_LEVEL: 'info', ...env },
      logFile: join(dir, `${name}.log`),
    });
  const coordinator = tsx('coordinator', 'services/coordinator/src/main.ts', ['--config', configFile, '--id', `${label}-coordinator`], { DATABASE_URL: db.url });
  const agents = new Map<string, ManagedProcess>();
  const startAgent = async (siteId: string) => {
    const p = tsx(`agent-${siteId}`, 'services/site-agent/src/main.ts', ['--config', configFile, '--site', siteId]);
    agents.set(siteId, p);
    await p.waitFor(new RegExp(`agent ${siteId} ready`), 30_000);
    return p;
  };
  const apiUrl = `http://127.0.0.1:${port}`;
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${apiUrl}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  try {
    await coordinator.waitFor(/listening on http/, 30_000);
    await Promise.all((config.sites ?? []).map((s) => startAgent(s.id)));
  } catch (e) {
    await Promise.all([coordinator.stop(), ...[...agents.values()].map((a) => a.stop())]);
    await db.drop();
    throw e;
  }
  return {
    dir,
    configFile,
    prefix,
    db,
    apiUrl,
    coordinator,
    agents,
    startAgent,
    get,
    workload: (id) => get<WorkloadView>(`/api/v1/workloads/${id}`),
    sites: () => get<{ sites: SiteView[] }>('/api/v1/sites').then((r) => r.sites),
    events: (id) => get<{ events: Array<{ type: string; position: number; data: Record<string, unknown>; metadata: Record<string, unknown> }> }>(`/api/v1/workloads/${id}/events`).then((r) => r.events),
    async stop() {
      await Promise.all([coordinator.stop(), ...[...agents.values()].map((a) => a.stop())]);
      await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_'));
      await db.drop();
    },
  };
}
