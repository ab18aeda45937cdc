import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from './process';

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** initdb refuses to run as root: private test servers run as this unprivileged OS user. */
export const PG_OS_USER = process.env.PG_TEST_OS_USER ?? 'drcpg';

export interface PostgresServer {
  label: string;
  host: string;
  port: number;
  dataDir: string;
  socketDir: string;
  logFile: string;
  osUser: string;
  /** Connection URL for a database (default `postgres`), user `postgres`, trust auth. */
  url(database?: string): string;
  /** Runs one SQL statement and returns its rows (a short-lived connection). */
  sql<R = Record<string, unknown>>(text: string, database?: string): Promise<R[]>;
  start(): void;
  stop(mode?: 'fast' | 'immediate'): void;
  restart(mode?: 'fast' | 'immediate'): void;
  /** kill -9 of the postmaster: a crash, not a shutdown. */
  kill9(): void;
  isRunning(): boolean;
  /** Stops the server and removes its files. */
  destroy(): void;
}

export interface PostgresServerOptions {
  label?: string;
  port?: number;
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string>;
  /** Use this (empty or absent) directory as the data directory instead of a fresh temp dir. */
  dataDir?: string;
  /** Do not run initdb (the data dir is filled by someone else, e.g. pg_basebackup). */
  skipInit?: boolean;
  /** Do not start after init. */
  noStart?: boolean;
}

const servers = new Set<PostgresServer>();

/** Creates the unprivileged OS user for test servers if it is missing (idempotent). */
export function ensurePgOsUser(user = PG_OS_USER): void {
  if (spawnSync('id', ['-u', user]).status === 0) return;
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user], { stdio: 'ignore' });
}

/** Runs a PostgreSQL binary as the unprivileged user; throws with its output on failure. */
export function runAsPg(binary: string, args: string[], opts: { env?: Record<string, string>; allowFail?: boolean } = {}): { status: number; output: string } {
  const r = spawnSync('runuser', ['-u', PG_OS_USER, '--', join(PG_BIN, binary), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    timeout: 120_000,
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${binary} ${args.join(' ')} failed (${r.status}):\n${output}`);
  return { status: r.status ?? -1, output };
}

/** A directory owned by the test OS user (PostgreSQL insists on owning its data dir). */
export function pgOwnedTempDir(label: string): string {
  ensurePgOsUser();
  const dir = mkdtempSync(join(tmpdir(), `drc-pg-${label}-`));
  chmodSync(dir, 0o755);
  execFileSync('chown', [PG_OS_USER, dir]);
  return dir;
}

/**
 * Starts a private PostgreSQL 15 server for one test: its own data dir, socket dir and port,
 * run as an unprivileged user, small memory settings, fsync off (test data only: a crash of the
 * machine may lose it, which a test never relies on). Registered for `stopAllPostgresServers()`.
 */
export async function startPostgresServer(opts: PostgresServerOptions = {}): Promise<PostgresServer> {
  const label = opts.label ?? 'pg';
  const root = pgOwnedTempDir(label);
  const dataDir = opts.dataDir ?? join(root, 'data');
  const socketDir = join(root, 'socket');
  const logFile = join(root, 'postgres.log');
  mkdirSync(socketDir, { recursive: true });
  execFileSync('chown', ['-R', PG_OS_USER, root]);
  const port = opts.port ?? (await freePort());
  if (!opts.skipInit) {
    runAsPg('initdb', ['--data-checksums', '-A', 'trust', '-U', 'postgres', '-D', dataDir, '--no-sync']);
  }
  const writeConf = () => {
    const conf = {
      port: String(port),
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${socketDir}'`,
      shared_buffers: "'16MB'",
      max_connections: '50',
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'on',
      logging_collector: 'off',
      ...opts.settings,
    };
    appendFileSync(join(dataDir, 'postgresql.conf'), `\n# drc test server\n${Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  };
  if (!opts.skipInit) writeConf();
  const ctl = (args: string[], allowFail = false) => runAsPg('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', ...args], { allowFail });
  const server: PostgresServer = {
    label,
    host: '127.0.0.1',
    port,
    dataDir,
    socketDir,
    logFile,
    osUser: PG_OS_USER,
    url: (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`,
    async sql<R>(text: string, db = 'postgres') {
      const c = postgres(server.url(db), { max: 1, onnotice: () => {}, connect_timeout: 5, fetch_types: false });
      try {
        return (await c.unsafe(text)) as unknown as R[];
      } finally {
        await c.end({ timeout: 2 });
      }
    },
    start: () => void ctl(['start']),
    stop: (mode = 'fast') => void ctl(['stop', '-m', mode], true),
    restart: (mode = 'fast') => void ctl(['restart', '-m', mode]),
    kill9() {
      const r = spawnSync('head', ['-1', join(dataDir, 'postmaster.pid')], { encoding: 'utf8' });
      const pid = Number(r.stdout.trim());
      if (!(pid > 0)) return;
      const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      // Backends notice their postmaster died and exit; wait for all of them, as a restart needs.
      const alive = (p: number) => {
        try {
          process.kill(p, 0);
          return true;
        } catch {
          return false;
        }
      };
      const deadline = Date.now() + 10_000;
      while ([pid, ...children].some(alive) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
      for (const c of children.filter(alive)) process.kill(c, 'SIGKILL');
    },
    isRunning: () => ctl(['status'], true).status === 0,
    destroy() {
      server.stop('immediate');
      servers.delete(server);
      rmSync(root, { recursive: true, force: true });
    },
  };
  servers.add(server);
  if (!opts.noStart) server.start();
  return server;
}

/** Stops and removes every private server this process started. */
export function stopAllPostgresServers(): void {
  for (const s of [...servers]) s.destroy();
}

process.once('exit', () => {
  for (const s of servers) {
    try {
      s.stop('immediate');
    } catch {
      /* best effort at exit */
    }
  }
});

