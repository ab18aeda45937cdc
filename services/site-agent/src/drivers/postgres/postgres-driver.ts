import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandAction } from '@drc/contracts';
import postgres from 'postgres';
import { z } from 'zod';
import { DriverError, type ActionContext, type ActionOutcome, type DriverFactory, type DriverSetup, type ProbeResult, type WorkloadDriver } from '../driver';

/** Settings of the PostgreSQL driver: `driver.settings` merged with `driver.sites[site]`. */
export const PostgresSettingsSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535),
  user: z.string().min(1).default('postgres'),
  database: z.string().min(1).default('postgres'),
  /** Name of an environment variable holding the password (never the password itself). */
  passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { message: 'expected an environment variable name' }).optional(),
  /** This node's data directory (for pg_ctl, pg_rewind, pg_basebackup). */
  dataDir: z.string().min(1),
  pgBin: z.string().min(1).default('/usr/lib/postgresql/15/bin'),
  /** Run the server tools as this OS user (PostgreSQL owns its data dir; the agent may run as root). */
  osUser: z.string().min(1).optional(),
  /** How a primary is fenced: stopped (pg_ctl stop), or made read-only with every client session ended. */
  fenceMode: z.enum(['stop', 'readonly']).default('stop'),
  /** Replication slot this node uses on its upstream when it is a standby. */
  slot: z.string().regex(/^[a-z0-9_]{1,63}$/, { message: 'expected a slot name of lowercase letters, digits and _' }).optional(),
  /** Settings this node keeps whatever it is cloned or rewound from (pg_rewind copies the source's config): port, socket dir… */
  localConf: z.record(z.string(), z.string()).default({}),
  /** Port of the isolated copy a drill starts (default: port + 1000). */
  drillPort: z.number().int().min(1).max(65535).optional(),
  /** How long to wait for a rewound standby to stream (ms). */
  streamTimeoutMs: z.number().int().positive().default(60_000),
});
export type PostgresSettings = z.infer<typeof PostgresSettingsSchema>;

const CAPABILITIES: CommandAction[] = ['fence', 'unfence', 'promote', 'demote', 'reprotect', 'quiesce', 'start', 'stop', 'drillStart', 'drillCleanup'];

/** Pure. An LSN ("16/B374D848") as a comparable decimal position (bytes). */
export function lsnToPosition(lsn: string): string {
  const m = /^([0-9A-F]+)\/([0-9A-F]+)$/i.exec(lsn);
  if (!m) throw new Error(`not an LSN: ${lsn}`);
  return ((BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`)).toString();
}

interface RunResult {
  code: number;
  output: string;
}

/**
 * The real PostgreSQL streaming-replication driver. Health and role over SQL; position and
 * lag from the WAL functions and the WAL receiver; fence by stopping the server or by making
 * it read-only and ending every client session; promote with `pg_promote()` then CHECKPOINT
 * (so the old primary can be rewound at once); reprotect with `pg_rewind` from the new primary,
 * falling back to a fresh `pg_basebackup`; drills on an isolated copy of this standby.
 */
export class PostgresDriver implements WorkloadDriver {
  readonly type = 'postgres' as const;
  readonly capabilities: ReadonlySet<CommandAction> = new Set(CAPABILITIES);
  private drill?: { dir: string; dataDir: string; port: number };

  constructor(
    private readonly s: PostgresSettings,
    private readonly setup: Pick<DriverSetup, 'workloadId' | 'siteId' | 'logger' | 'peerSettings'>,
  ) {}

  /** One connection per call; no type fetch (no array columns here, and a server killed mid-fetch left an unhandled rejection behind). */
  private url(host = this.s.host, port = this.s.port): postgres.Options<Record<string, never>> {
    const password = this.s.passwordEnv ? process.env[this.s.passwordEnv] : undefined;
    return { host, port, user: this.s.user, database: this.s.database, ...(password ? { password } : {}), max: 1, connect_timeout: 2, idle_timeout: 1, onnotice: () => {}, fetch_types: false, connection: { application_name: `drc-agent-${this.setup.siteId}` } };
  }

  private async sql<T>(text: string, at: { host?: string; port?: number } = {}): Promise<T[]> {
    const c = postgres(this.url(at.host, at.port));
    try {
      return (await c.unsafe(text)) as unknown as T[];
    } finally {
      await c.end({ timeout: 1 }).catch(() => undefined);
    }
  }

  /** Runs a server tool (as `osUser` when set and we are root). */
  private run(tool: string, args: string[], timeoutMs = 120_000): Promise<RunResult> {
    const bin = join(this.s.pgBin, tool);
    const asUser = this.s.osUser && process.getuid?.() === 0;
    const [cmd, argv] = asUser ? ['runuser', ['-u', this.s.osUser!, '--', bin, ...args]] : [bin, args];
    return new Promise((resolve) => {
      const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        resolve({ code: -1, output: e.message });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, output });
      });
    });
  }

  private async runOrFail(tool: string, args: string[], what: string, timeoutMs?: number): Promise<string> {
    const r = await this.run(tool, args, timeoutMs);
    if (r.code !== 0) throw new DriverError(`${what}: ${tool} exited with ${r.code}: ${r.output.trim().split('\n').slice(-3).join(' | ')}`);
    return r.output;
  }

  /**
   * Is the postmaster of `dataDir` alive? Read from postmaster.pid and /proc: a killed postmaster
   * stays a zombie until it is reaped, and `pg_ctl status` would call that running (and a
   * `pg_ctl stop` then waits seconds for it), which would slow every fence of a crashed primary.
   */
  private async isRunning(dataDir = this.s.dataDir): Promise<boolean> {
    let pid: number;
    try {
      pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // no pid file: not running
      return this.run('pg_ctl', ['status', '-D', dataDir]).then((r) => r.code === 0); // not ours to read
    }
    if (!(pid > 0)) return false;
    try {
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return state !== undefined && state !== 'Z' && state !== 'X';
    } catch {
      if (existsSync('/proc/self/status')) return false; // /proc works: that process is gone
      return this.run('pg_ctl', ['status', '-D', dataDir]).then((r) => r.code === 0);
    }
  }

  async probe(): Promise<ProbeResult> {
    try {
      const [r] = await this.sql<{ rec: boolean; ro: string; lsn: string | null; rcv: string | null; end_lsn: string | null; age: number | null; streaming: boolean }>(
        `SELECT pg_is_in_recovery() AS rec, current_setting('default_transaction_read_only') AS ro,
                CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text AS lsn,
                pg_last_wal_receive_lsn()::text AS rcv,
                (SELECT latest_end_lsn::text FROM pg_stat_wal_receiver LIMIT 1) AS end_lsn,
                EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 AS age,
                EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming`,
      );
      if (!r || !r.lsn) return { role: 'unknown', healthy: false, detail: 'no WAL position reported' };
      const position = lsnToPosition(r.lsn);
      if (!r.rec) {
        const fenced = r.ro === 'on';
        return { role: fenced ? 'fenced' : 'primary', healthy: true, ...(fenced ? { detail: 'read-only (fenced)' } : {}), replication: { position, lagSeconds: 0, lagBytes: 0 } };
      }
      // Behind = what the upstream says it has sent (latest_end_lsn) minus what we replayed.
      const upstream = [r.end_lsn, r.rcv].filter((x): x is string => !!x).map((x) => BigInt(lsnToPosition(x)));
      const ahead = upstream.length ? upstream.reduce((a, b) => (a > b ? a : b)) : BigInt(position);
      const lagBytes = Number(ahead > BigInt(position) ? ahead - BigInt(position) : 0n);
      const lagSeconds = lagBytes === 0 ? 0 : Math.max(0, r.age ?? 0);
      // A standby that answers is a healthy copy even when it is not streaming (its primary may
      // be the one that died): how far behind it is, is what its position and lag say.
      return {
        role: 'replica',
        healthy: true,
        ...(r.streaming ? {} : { detail: 'standby is not streaming from its upstream' }),
        replication: { position, lagSeconds: Math.round(lagSeconds * 1000) / 1000, lagBytes },
      };
    } catch (e) {
      const running = await this.isRunning().catch(() => false);
      return { role: running ? 'unknown' : 'stopped', healthy: false, detail: running ? `not answering: ${(e as Error).message}` : 'server is stopped' };
    }
  }

  async execute(action: CommandAction, params: Record<string, unknown>, ctx: ActionContext): Promise<ActionOutcome> {
    if (ctx.signal.aborted || Date.now() > ctx.deadline) throw new DriverError(`${action}: deadline passed before it started`);
    switch (action) {
      case 'fence':
        return this.fence(this.s.fenceMode);
      case 'quiesce':
        return this.quiesce();
      case 'unfence':
        return this.unfence();
      case 'stop':
        await this.stop();
        return { detail: { role: 'stopped' } };
      case 'start':
        await this.start();
        return { detail: { running: true } };
      case 'promote':
        return this.promote();
      case 'demote':
      case 'reprotect':
        return this.reprotect(params);
      case 'drillStart':
        return this.drillStart();
      case 'drillCleanup':
        return this.drillCleanup();
      default:
        throw new DriverError(`unsupported: the postgres driver cannot ${action}`);
    }
  }

  private async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!(await this.isRunning())) return;
    const r = await this.run('pg_ctl', ['stop', '-D', this.s.dataDir, '-m', mode, '-w', '-t', '60']);
    if (r.code !== 0 && (await this.isRunning())) {
      if (mode === 'fast') return this.stop('immediate');
      throw new DriverError(`could not stop PostgreSQL: ${r.output.trim()}`);
    }
  }

  private async start(): Promise<void> {
    if (await this.isRunning()) return;
    await this.runOrFail('pg_ctl', ['start', '-D', this.s.dataDir, '-w', '-t', '60', '-l', join(this.s.dataDir, 'drc-agent-start.log')], 'start');
  }

  private async fence(mode: 'stop' | 'readonly'): Promise<ActionOutcome> {
    if (mode === 'stop') {
      // A fence must be quick: an immediate shutdown (crash recovery happens at the next start).
      await this.stop('immediate');
      return { detail: { fencedBy: 'stop' } };
    }
    try {
      return { detail: { fencedBy: 'readonly', sessionsEnded: await this.makeReadOnly() } };
    } catch (e) {
      // Not answering SQL: make sure it cannot take writes either.
      this.setup.logger.warn({ err: e }, 'read-only fence failed over SQL: stopping the server instead');
      await this.stop('immediate');
      return { detail: { fencedBy: 'stop', reason: (e as Error).message } };
    }
  }

  /**
   * Read-only for every session, old and new: the setting is reloaded, we wait until a new
   * session sees it (the reload is asynchronous: a client reconnecting at once could still get
   * a writable session), then every other client session is ended. Returns how many were.
   */
  private async makeReadOnly(): Promise<number> {
    await this.sql(`ALTER SYSTEM SET default_transaction_read_only = on`);
    await this.sql(`SELECT pg_reload_conf()`);
    const deadline = Date.now() + 10_000;
    while ((await this.sql<{ ro: string }>(`SELECT current_setting('default_transaction_read_only') AS ro`))[0]?.ro !== 'on') {
      if (Date.now() > deadline) throw new DriverError('read-only setting not in effect after 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    let ended = 0;
    for (let round = 0; round < 2; round++) {
      const [r] = await this.sql<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name NOT LIKE 'drc-agent-%'`,
      );
      ended += r?.n ?? 0;
      await new Promise((res) => setTimeout(res, 50));
    }
    return ended;
  }

  /**
   * Planned moves (switchover): stop writes, then wait until every standby has replayed the
   * last WAL position, so the one promoted next has everything (zero data loss). Answers with
   * that position.
   */
  private async quiesce(): Promise<ActionOutcome> {
    const sessionsEnded = await this.makeReadOnly();
    const [f] = await this.sql<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`);
    const final = f!.lsn;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const behind = await this.sql<{ name: string }>(`SELECT application_name AS name FROM pg_stat_replication WHERE replay_lsn IS NULL OR replay_lsn < '${final}'::pg_lsn`);
      if (behind.length === 0) break;
      if (Date.now() > deadline) throw new DriverError(`quiesce: standbys ${behind.map((b) => b.name).join(', ')} did not replay ${final} within 30 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { detail: { quiesced: true, sessionsEnded, position: lsnToPosition(final) } };
  }

  private async unfence(): Promise<ActionOutcome> {
    await this.start();
    await this.sql(`ALTER SYSTEM RESET default_transaction_read_only`);
    await this.sql(`SELECT pg_reload_conf()`);
    return { detail: { role: 'writable' } };
  }

  private async promote(): Promise<ActionOutcome> {
    await this.start();
    const [r] = await this.sql<{ rec: boolean }>(`SELECT pg_is_in_recovery() AS rec`);
    if (r?.rec) {
      const [p] = await this.sql<{ ok: boolean }>(`SELECT pg_promote(wait => true, wait_seconds => 60) AS ok`);
      if (!p?.ok) throw new DriverError('pg_promote() did not finish within 60 s');
    }
    // A writable primary, and a checkpoint so the old primary can be pg_rewound from it at once.
    await this.sql(`ALTER SYSTEM RESET default_transaction_read_only`);
    await this.sql(`SELECT pg_reload_conf()`);
    await this.sql(`CHECKPOINT`);
    const [pos] = await this.sql<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`);
    return { detail: { role: 'primary', position: lsnToPosition(pos!.lsn), alreadyPrimary: !r?.rec } };
  }

  private upstreamOf(params: Record<string, unknown>): { host: string; port: number; user: string } {
    const site = typeof params.upstreamSite === 'string' ? params.upstreamSite : undefined;
    if (!site) throw new DriverError('reprotect: params.upstreamSite is missing');
    const raw = this.setup.peerSettings?.(site);
    const p = PostgresSettingsSchema.safeParse(raw);
    if (!p.success) throw new DriverError(`reprotect: no usable postgres settings for site ${site} (${p.error.issues[0]?.path.join('.')}: ${p.error.issues[0]?.message})`);
    return { host: p.data.host, port: p.data.port, user: p.data.user };
  }

  /** Re-applies this node's own settings after its config was copied from another node. */
  private writeLocalConf(dataDir: string, extra: Record<string, string> = {}): void {
    const file = join(dataDir, 'postgresql.auto.conf');
    const keep = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => !/^\s*(primary_conninfo|primary_slot_name|default_transaction_read_only|port)\s*=/.test(l) && !Object.keys({ ...this.s.localConf, ...extra }).some((k) => new RegExp(`^\\s*${k}\\s*=`).test(l))) : [];
    const conf = { port: String(this.s.port), ...this.s.localConf, ...extra };
    writeFileSync(file, `${keep.filter(Boolean).join('\n')}\n${Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  }

  private async reprotect(params: Record<string, unknown>): Promise<ActionOutcome> {
    const up = this.upstreamOf(params);
    // Already streaming from that upstream? Then it is done (idempotent).
    const already = await this.sql<{ host: string; port: number }>(`SELECT sender_host AS host, sender_port AS port FROM pg_stat_wal_receiver WHERE status = 'streaming'`).catch(() => []);
    if (already.some((r) => Number(r.port) === up.port)) return { detail: { role: 'replica', method: 'none (already streaming)', upstream: `${up.host}:${up.port}` } };
    const conninfo = `host=${up.host} port=${up.port} user=${up.user} dbname=postgres application_name=${this.setup.siteId}`;
    // pg_rewind needs a checkpoint on the new primary after its promotion (else "no rewind required").
    await this.sql('CHECKPOINT', up);
    if (this.s.slot) await this.sql(`SELECT pg_create_physical_replication_slot('${this.s.slot}') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '${this.s.slot}')`, up);
    await this.stop();
    let method = 'pg_rewind';
    let rewind = await this.run('pg_rewind', ['--target-pgdata', this.s.dataDir, '--source-server', conninfo, '--no-sync']);
    if (rewind.code !== 0 && /shut down cleanly/.test(rewind.output)) {
      // A crashed primary: finish its crash recovery in single-user mode (it accepts no
      // connection, so it cannot take a write meanwhile), then rewind.
      method = 'crash recovery + pg_rewind';
      await this.run('postgres', ['--single', '-D', this.s.dataDir, '-c', 'archive_mode=off', 'postgres'], 300_000);
      rewind = await this.run('pg_rewind', ['--target-pgdata', this.s.dataDir, '--source-server', conninfo, '--no-sync']);
    }
    if (rewind.code !== 0) {
      this.setup.logger.warn({ output: rewind.output.trim().split('\n').slice(-3) }, 'pg_rewind failed: re-cloning with pg_basebackup');
      method = 'pg_basebackup';
      rmSync(this.s.dataDir, { recursive: true, force: true });
      await this.runOrFail('pg_basebackup', ['-h', up.host, '-p', String(up.port), '-U', up.user, '-D', this.s.dataDir, '-X', 'stream', '-c', 'fast', '--no-sync'], 'reprotect (pg_basebackup)', 600_000);
    }
    // A standby of the new primary: its signal file, its conninfo, and its own port and sockets back.
    this.writeLocalConf(this.s.dataDir, { primary_conninfo: `'${conninfo}'`, ...(this.s.slot ? { primary_slot_name: `'${this.s.slot}'` } : {}) });
    await this.runAsOwnerWrite(join(this.s.dataDir, 'standby.signal'));
    await this.start();
    const deadline = Date.now() + this.s.streamTimeoutMs;
    for (;;) {
      const [r] = await this.sql<{ status: string }>(`SELECT status FROM pg_stat_wal_receiver`).catch(() => []);
      if (r?.status === 'streaming') break;
      if (Date.now() > deadline) throw new DriverError(`reprotect: not streaming from ${up.host}:${up.port} after ${this.s.streamTimeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 200));
    }
    return { detail: { role: 'replica', method, upstream: `${up.host}:${up.port}` } };
  }

  /** Creates an empty file owned by the data dir's owner (PostgreSQL checks ownership). */
  private async runAsOwnerWrite(file: string): Promise<void> {
    writeFileSync(file, '');
    if (this.s.osUser && process.getuid?.() === 0) {
      const r = await new Promise<number>((resolve) => spawn('chown', [this.s.osUser!, file]).on('close', (c) => resolve(c ?? -1)));
      if (r !== 0) throw new DriverError(`cannot chown ${file} to ${this.s.osUser}`);
    }
    // postgresql.auto.conf was rewritten by us: give it back too.
    if (this.s.osUser && process.getuid?.() === 0) await new Promise((resolve) => spawn('chown', [this.s.osUser!, join(this.s.dataDir, 'postgresql.auto.conf')]).on('close', resolve));
  }

  private async drillStart(): Promise<ActionOutcome> {
    if (this.drill && (await this.isRunning(this.drill.dataDir))) return { detail: { drill: 'running', port: this.drill.port, dataDir: this.drill.dataDir, check: 'passed' } };
    const dir = mkdtempSync(join(tmpdir(), `drc-drill-${this.setup.workloadId}-`));
    chmodSync(dir, 0o755);
    if (this.s.osUser && process.getuid?.() === 0) await new Promise((resolve) => spawn('chown', [this.s.osUser!, dir]).on('close', resolve));
    const dataDir = join(dir, 'data');
    const port = this.s.drillPort ?? this.s.port + 1000;
    // A copy of this standby, taken from it: production's primary is not touched.
    await this.runOrFail('pg_basebackup', ['-h', this.s.host, '-p', String(this.s.port), '-U', this.s.user, '-D', dataDir, '-X', 'stream', '-c', 'fast', '--no-sync'], 'drill (pg_basebackup)', 600_000);
    // Isolated: no standby.signal, no upstream, its own port; it comes up as a standalone server.
    rmSync(join(dataDir, 'standby.signal'), { force: true });
    this.writeLocalConf(dataDir, { port: String(port), primary_conninfo: "''", ...(this.s.localConf.unix_socket_directories ? { unix_socket_directories: `'${dir}'` } : {}) });
    if (this.s.osUser && process.getuid?.() === 0) await new Promise((resolve) => spawn('chown', ['-R', this.s.osUser!, dir]).on('close', resolve));
    this.drill = { dir, dataDir, port };
    await this.runOrFail('pg_ctl', ['start', '-D', dataDir, '-w', '-t', '120', '-l', join(dir, 'drill.log')], 'drill start');
    const [r] = await this.sql<{ rec: boolean; n: number }>(`SELECT pg_is_in_recovery() AS rec, (SELECT count(*) FROM pg_database)::int AS n`, { port });
    if (!r || r.rec) throw new DriverError('drill copy did not come up as an isolated, writable server');
    return { detail: { drill: 'running', port, dataDir, databases: r.n, check: 'passed' } };
  }

  private async drillCleanup(): Promise<ActionOutcome> {
    const d = this.drill;
    if (!d) return { detail: { drill: 'none' } };
    await this.run('pg_ctl', ['stop', '-D', d.dataDir, '-m', 'immediate', '-w']);
    rmSync(d.dir, { recursive: true, force: true });
    this.drill = undefined;
    return { detail: { drill: 'removed', port: d.port } };
  }

  async close(): Promise<void> {
    await this.drillCleanup().catch(() => undefined);
  }
}

/** The driver factory for `driver: postgres`. Throws (naming the field) on invalid settings. */
export const createPostgresDriver: DriverFactory = async (setup) => {
  const parsed = PostgresSettingsSchema.safeParse(setup.settings);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new DriverError(`workload ${setup.workloadId}: driver.settings.${i?.path.join('.') || '(root)'}: ${i?.message ?? 'invalid'}`);
  }
  return new PostgresDriver(parsed.data, setup);
};
