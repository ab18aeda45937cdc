import { randomBytes } from 'node:crypto';
import { accessSync, constants, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { eventually, freePort, startProcess, type ManagedProcess } from '@drc/test-kit';
import { repoRoot } from '../harness';

export const natsDeployDir = join(repoRoot, 'deploy', 'nats');

/** The users accounts.conf defines, each with the environment variable holding its password. */
export const NATS_USERS = {
  coordinator: 'DRC_NATS_PASSWORD_COORDINATOR',
  'site-fra': 'DRC_NATS_PASSWORD_FRA',
  'site-ams': 'DRC_NATS_PASSWORD_AMS',
  'site-dub': 'DRC_NATS_PASSWORD_DUB',
  sys: 'DRC_NATS_PASSWORD_SYS',
} as const;
export type NatsUser = keyof typeof NATS_USERS;

export interface NodePorts {
  client: number;
  http: number;
  cluster: number;
}

/**
 * Pure. The shipped node config with only its listen addresses and its JetStream folder
 * replaced, so three nodes fit on one host. Throws when a line to replace is not there exactly
 * once: a test must not quietly run a config other than the shipped one.
 */
export function rewriteNodeConfig(text: string, ports: NodePorts, storeDir: string): string {
  const swaps: Array<[RegExp, string]> = [
    [/^listen: 0\.0\.0\.0:4222$/m, `listen: 127.0.0.1:${ports.client}`],
    [/^http: 0\.0\.0\.0:8222$/m, `http: 127.0.0.1:${ports.http}`],
    [/^ {2}listen: 0\.0\.0\.0:6222$/m, `  listen: 127.0.0.1:${ports.cluster}`],
    [/^ {2}store_dir: \/data\/jetstream$/m, `  store_dir: ${JSON.stringify(storeDir)}`],
  ];
  let out = text;
  for (const [re, to] of swaps) {
    const hits = out.match(new RegExp(re.source, 'gm'))?.length ?? 0;
    if (hits !== 1) throw new Error(`deploy/nats/nats-server.conf: expected exactly one line matching ${re}, found ${hits}`);
    out = out.replace(re, to);
  }
  return out;
}

export interface DeployNatsCluster {
  dir: string;
  nodes: Array<{ name: string; ports: NodePorts; process: ManagedProcess }>;
  /** Client URL of node i (0-based). */
  url(i?: number): string;
  passwords: Record<NatsUser, string>;
  stop(): Promise<void>;
}

/** Not pure. The path of an executable on PATH or in the sbin folders Debian puts servers in, or undefined. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'].filter(Boolean);
  for (const d of dirs) {
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * Starts the shipped 3-node cluster config on free loopback ports and temp folders; resolves
 * when every node is ready. A free port is only free until nats-server binds it, and tests in
 * other files start servers meanwhile: a node that finds its port taken starts the cluster
 * over on fresh ports (chaos seed 1609 lost a route port to another test's HTTP server).
 */
export async function startDeployNatsCluster(label = 'deploy-nats'): Promise<DeployNatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(label);
    } catch (e) {
      if (attempt < 3 && e instanceof PortTakenError) {
        process.stdout.write(`[deploy nats] ${e.message}; starting the cluster again on other ports\n`);
        continue;
      }
      throw e;
    }
  }
}

class PortTakenError extends Error {}

async function startClusterOnce(label: string): Promise<DeployNatsCluster> {
  const natsServer = findExecutable('nats-server');
  if (!natsServer) throw new Error('nats-server not found (Debian package nats-server)');
  const dir = mkdtempSync(join(tmpdir(), `drc-${label}-`));
  copyFileSync(join(natsDeployDir, 'accounts.conf'), join(dir, 'accounts.conf'));
  const shipped = readFileSync(join(natsDeployDir, 'nats-server.conf'), 'utf8');
  // A letter first, as deploy/README.md asks: nats-server parses a variable's value as a config
  // value, so a password like "6e01..." would be read as a number and the server would not start.
  const secret = () => `p${randomBytes(12).toString('hex')}`;
  const passwords = Object.fromEntries(Object.keys(NATS_USERS).map((u) => [u, secret()])) as Record<NatsUser, string>;
  const routePassword = secret();
  const ports: NodePorts[] = [];
  for (let i = 0; i < 3; i++) ports.push({ client: await freePort(), http: await freePort(), cluster: await freePort() });
  const routes = `[${ports.map((p) => `nats-route://drc-route:${routePassword}@127.0.0.1:${p.cluster}`).join(', ')}]`;
  const env: Record<string, string> = { DRC_NATS_ROUTE_PASSWORD: routePassword, DRC_NATS_ROUTES: routes };
  for (const [user, variable] of Object.entries(NATS_USERS)) env[variable] = passwords[user as NatsUser];
  const nodes: DeployNatsCluster['nodes'] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.process.stop()));
  };
  try {
    for (let i = 0; i < 3; i++) {
      const name = `nats-${i + 1}`;
      const storeDir = join(dir, name, 'jetstream');
      mkdirSync(storeDir, { recursive: true });
      const file = join(dir, `${name}.conf`);
      writeFileSync(file, rewriteNodeConfig(shipped, ports[i]!, storeDir));
      const proc = startProcess({ name, command: natsServer, args: ['-c', file], env: { ...env, NATS_SERVER_NAME: name }, logFile: join(dir, `${name}.log`) });
      nodes.push({ name, ports: ports[i]!, process: proc });
    }
    // A node that exits (a port taken, a bad config) fails the start at once.
    const exited = Promise.race(nodes.map((n) => n.process.exited.then(() => n))).then((n) => {
      throw new Error(`${n.name} exited while the cluster started`);
    });
    exited.catch(() => undefined);
    await Promise.race([exited, Promise.all(nodes.map((n) => n.process.waitFor(/Server is ready/, 20_000)))]);
    // Ready to serve clients is not ready for JetStream: wait until the routes are up and the
    // JetStream meta group has a leader every node knows (the monitoring port says so).
    await Promise.race([
      exited,
      eventually(async () => {
        const all = await Promise.all(nodes.map((n) => monitor<{ meta_cluster?: { leader?: string } }>(n.ports, '/jsz')));
        return all.every((j) => Boolean(j.meta_cluster?.leader));
      }, 30_000, 200),
    ]);
  } catch (e) {
    await stop();
    const taken = nodes.find((n) => /address already in use/.test(n.process.output()));
    if (taken) throw new PortTakenError(`${taken.name} found one of its ports taken`, { cause: e });
    throw e;
  }
  return { dir, nodes, url: (i = 0) => `nats://127.0.0.1:${ports[i]!.client}`, passwords, stop };
}

/** Not pure. GETs a JSON document from a node's monitoring port. */
export async function monitor<T>(ports: NodePorts, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${ports.http}${path}`);
  if (!res.ok) throw new Error(`GET ${path} on monitoring port ${ports.http}: ${res.status}`);
  return (await res.json()) as T;
}
