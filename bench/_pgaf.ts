import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, freePort, pgOwnedTempDir, PG_BIN, PG_OS_USER, startProcess, type ManagedProcess } from '@drc/test-kit';
import postgres from 'postgres';

/**
 * pg_auto_failover (Debian `postgresql-15-auto-failover` + `pg-auto-failover-cli`), the peer
 * drc is measured against: a monitor and two data nodes on loopback, run as an unprivileged
 * user with a private socket directory and small shared_buffers (pg_autoctl sizes them to
 * several GB otherwise). Each node is a `pg_autoctl … --run` keeper process.
 */
export interface PgafNode {
  name: string;
  port: number;
  dataDir: string;
  keeper?: ManagedProcess;
}

export interface PgafFormation {
  monitorPort: number;
  nodes: PgafNode[];
  /** Sets the monitor's health-check timing (ms) live, as `ALTER SYSTEM` + reload. */
  setTiming(t: PgafTiming | 'default'): Promise<void>;
  /** Name of the node the monitor says is primary (and every other node secondary). */
  waitHealthy(timeoutMs?: number): Promise<PgafNode>;
  /** SIGKILL of a whole node: its keeper and its PostgreSQL (a datacenter host going dark). */
  killNode(node: PgafNode): void;
  /** Starts a killed node's keeper again; it rejoins as a secondary. */
  restartNode(node: PgafNode): void;
  stop(): Promise<void>;
}

export interface PgafTiming {
  healthCheckPeriodMs: number;
  healthCheckTimeoutMs: number;
  healthCheckMaxRetries: number;
  healthCheckRetryDelayMs: number;
  unhealthyTimeoutMs: number;
  primaryDemoteTimeoutMs: number;
}

export function ensurePgAutoFailover(): void {
  if (existsSync('/usr/bin/pg_autoctl') && existsSync(join(PG_BIN, '..', 'lib', 'pgautofailover.so'))) return;
  if (existsSync('/usr/bin/pg_autoctl')) return;
  console.log('installing pg_auto_failover (apt-get install postgresql-15-auto-failover pg-auto-failover-cli) …');
  execFileSync('apt-get', ['install', '-y', '-q', 'postgresql-15-auto-failover', 'pg-auto-failover-cli'], { stdio: 'inherit' });
}

export async function startPgafFormation(label = 'pgaf'): Promise<PgafFormation> {
  ensurePgAutoFailover();
  const root = pgOwnedTempDir(label);
  const sock = join(root, 'sock');
  const home = join(root, 'home');
  execFileSync('runuser', ['-u', PG_OS_USER, '--', 'mkdir', '-p', sock, home]);
  const env = [`HOME=${home}`, `PATH=${PG_BIN}:/usr/bin:/bin`, `PG_CONFIG=${PG_BIN}/pg_config`, `PGHOST=${sock}`];
  const asPg = (args: string[]) => ['-u', PG_OS_USER, '--', 'env', ...env, ...args];
  const initdb = (dir: string) => {
    execFileSync('runuser', asPg([join(PG_BIN, 'initdb'), '-D', dir, '-A', 'trust', '-U', PG_OS_USER, '--no-sync']), { stdio: 'ignore' });
    appendFileSync(join(dir, 'postgresql.conf'), `\nunix_socket_directories = '${sock}'\nlogging_collector = off\nfsync = off\n`);
    // postgresql.auto.conf is read last: it wins over pg_autoctl's multi-GB shared_buffers.
    appendFileSync(join(dir, 'postgresql.auto.conf'), `shared_buffers = '32MB'\n`);
  };
  const monitorPort = await freePort();
  const monitorDir = join(root, 'monitor');
  initdb(monitorDir);
  const keeper = (name: string, args: string[]) => startProcess({ name: `pgaf-${name}`, command: 'runuser', args: asPg(['pg_autoctl', ...args]), logFile: join(root, `${name}.log`) });
  const monitor = keeper('monitor', ['create', 'monitor', '--pgdata', monitorDir, '--pgport', String(monitorPort), '--hostname', '127.0.0.1', '--auth', 'trust', '--no-ssl', '--run']);
  const monitorUrl = `postgres://${PG_OS_USER}@127.0.0.1:${monitorPort}/pg_auto_failover`;
  const q = async <T>(text: string): Promise<T[]> => {
    const c = postgres(monitorUrl, { max: 1, onnotice: () => {}, connect_timeout: 2 });
    try {
      return (await c.unsafe(text)) as unknown as T[];
    } finally {
      await c.end({ timeout: 1 });
    }
  };
  await eventually(() => q('SELECT 1 FROM pgautofailover.formation').then(() => true).catch(() => false), 60_000, 250);
  const nodeUrl = `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`;
  const nodes: PgafNode[] = [];
  const runNode = (n: PgafNode) => {
    n.keeper = keeper(n.name, ['create', 'postgres', '--pgdata', n.dataDir, '--pgport', String(n.port), '--hostname', '127.0.0.1', '--name', n.name, '--auth', 'trust', '--no-ssl', '--monitor', nodeUrl, '--run']);
  };
  for (const name of ['node1', 'node2']) {
    const n: PgafNode = { name, port: await freePort(), dataDir: join(root, name) };
    if (name === 'node1') initdb(n.dataDir); // the secondary is a pg_basebackup of it
    runNode(n);
    nodes.push(n);
    await eventually(async () => (await q<{ s: string }>(`SELECT reportedstate AS s FROM pgautofailover.node WHERE nodename = '${name}'`))[0]?.s === (name === 'node1' ? 'single' : 'secondary'), 120_000, 250);
  }

  const f: PgafFormation = {
    monitorPort,
    nodes,
    async setTiming(t) {
      const settings: Record<string, number | undefined> =
        t === 'default'
          ? { health_check_period: undefined, health_check_timeout: undefined, health_check_max_retries: undefined, health_check_retry_delay: undefined, node_considered_unhealthy_timeout: undefined, primary_demote_timeout: undefined }
          : {
              health_check_period: t.healthCheckPeriodMs,
              health_check_timeout: t.healthCheckTimeoutMs,
              health_check_max_retries: t.healthCheckMaxRetries,
              health_check_retry_delay: t.healthCheckRetryDelayMs,
              node_considered_unhealthy_timeout: t.unhealthyTimeoutMs,
              primary_demote_timeout: t.primaryDemoteTimeoutMs,
            };
      for (const [k, v] of Object.entries(settings)) await q(v === undefined ? `ALTER SYSTEM RESET pgautofailover.${k}` : `ALTER SYSTEM SET pgautofailover.${k} = ${v}`);
      await q('SELECT pg_reload_conf()');
    },
    async waitHealthy(timeoutMs = 120_000) {
      const name = await eventually(async () => {
        const rows = await q<{ nodename: string; reportedstate: string; goalstate: string }>('SELECT nodename, reportedstate, goalstate FROM pgautofailover.node');
        const primary = rows.find((r) => r.reportedstate === 'primary' && r.goalstate === 'primary');
        return primary && rows.every((r) => r === primary || (r.reportedstate === 'secondary' && r.goalstate === 'secondary')) ? primary.nodename : undefined;
      }, timeoutMs, 250);
      return nodes.find((n) => n.name === name)!;
    },
    killNode(n) {
      // The whole host goes dark: the keeper's process group (its supervisor services rename
      // themselves, so they cannot be found by their command line) and PostgreSQL.
      const pgid = n.keeper?.child.pid;
      if (pgid) {
        try {
          process.kill(-pgid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      spawnSync('pkill', ['-9', '-f', `pg_autoctl.*${n.dataDir}`]);
      const pidFile = join(n.dataDir, 'postmaster.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : 0;
      if (pid > 0) {
        spawnSync('pkill', ['-9', '-P', String(pid)]);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    },
    restartNode(n) {
      n.keeper = keeper(`${n.name}-again`, ['run', '--pgdata', n.dataDir]);
    },
    async stop() {
      for (const n of nodes) f.killNode(n);
      if (monitor.child.pid) {
        try {
          process.kill(-monitor.child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      spawnSync('pkill', ['-9', '-f', root]);
      spawnSync('rm', ['-rf', root]);
    },
  };
  return f;
}
