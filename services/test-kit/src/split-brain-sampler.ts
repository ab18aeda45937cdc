import { readFileSync } from 'node:fs';
import postgres from 'postgres';

/**
 * The sampling half of the split-brain watcher. It runs in a process of its own
 * (split-brain-sampler-main.ts): a test's process blocks its event loop for seconds at a time
 * (pg_ctl, a CLI run with execFileSync), and a watcher living there would see nothing then.
 *  - A simulated copy lives in its agent process and keeps its role in a file (the
 *    simulator's test instrumentation, DRC_SIM_TEST_ROLE_DIR). It is writable while that file
 *    says so and the process that wrote it is alive. All simulated copies are read in one
 *    tick, whose window is the tick's.
 *  - A PostgreSQL server is writable when `pg_is_in_recovery()` is false AND a test INSERT into
 *    a small table of the watcher's own commits, on a connection of its own with a short
 *    statement_timeout. The window of a writable sample is from when the server ran the write
 *    to its answer; a probe without an answer within statement_timeout + 1.5 s is abandoned
 *    (not writable) and the next one starts on a new connection.
 */
export type WatchedCopy =
  | { workloadId: string; siteId: string; kind: 'sim'; roleFile: string }
  | { workloadId: string; siteId: string; kind: 'postgres'; host: string; port: number };

export interface CopySample {
  workloadId: string;
  siteId: string;
  /** Epoch ms when the sample was asked and answered. */
  start: number;
  end: number;
  writable: boolean;
  /** What was seen, e.g. `primary writable (pid 123)`, `in recovery`, an error. */
  detail: string;
}

export interface SamplerOptions {
  /** Sampling period (default 80 ms: 12.5 Hz, so that a busy machine still samples at 10 Hz or more). */
  intervalMs?: number;
  /** statement_timeout of the PostgreSQL test write (default 500 ms). */
  statementTimeoutMs?: number;
}

const WATCH_TABLE = 'drc_split_brain_watch';
/** What one PostgreSQL probe saw; `at` is when the server ran the test write (epoch ms). */
type Seen = { writable: boolean; detail: string; at?: number; committedAt?: number };

function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Not pure (reads a file, checks a pid). One simulated copy right now. */
function sampleSim(copy: Extract<WatchedCopy, { kind: 'sim' }>): { writable: boolean; detail: string } {
  let r: { role?: unknown; writable?: unknown; pid?: unknown };
  try {
    r = JSON.parse(readFileSync(copy.roleFile, 'utf8')) as typeof r;
  } catch {
    return { writable: false, detail: 'no role file (agent not started)' };
  }
  const pid = Number(r.pid);
  if (!alive(pid)) return { writable: false, detail: `${String(r.role)}, agent pid ${pid} gone` };
  return { writable: r.writable === true, detail: `${String(r.role)}${r.writable === true ? ' writable' : ''} (pid ${pid})` };
}

/**
 * Not pure: samples every copy every `intervalMs` (timers, files, one PostgreSQL connection per
 * server) and hands each sample to `emit` until the returned stop function is called. Never
 * throws while sampling: a copy that cannot be asked is not writable.
 */
export function runSampler(copies: readonly WatchedCopy[], emit: (s: CopySample) => void, opts: SamplerOptions = {}): () => Promise<void> {
  const intervalMs = opts.intervalMs ?? 80;
  const statementTimeoutMs = opts.statementTimeoutMs ?? 500;
  let stopped = false;
  const loops: Array<Promise<void>> = [];
  const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
  const every = async (tick: () => Promise<void> | void) => {
    for (let next = Date.now(); !stopped; next += intervalMs) {
      await sleepUntil(next);
      if (stopped) break;
      await tick();
      if (Date.now() > next + intervalMs) next = Date.now(); // fell behind: no burst to catch up
    }
  };

  const sims = copies.filter((c): c is Extract<WatchedCopy, { kind: 'sim' }> => c.kind === 'sim');
  if (sims.length > 0) {
    loops.push(
      every(() => {
        const start = Date.now();
        const seen = sims.map((c) => ({ c, ...sampleSim(c) }));
        const end = Date.now();
        for (const x of seen) emit({ workloadId: x.c.workloadId, siteId: x.c.siteId, start, end, writable: x.writable, detail: x.detail });
      }),
    );
  }

  const clients = new Set<ReturnType<typeof postgres>>();
  for (const c of copies) {
    if (c.kind !== 'postgres') continue;
    const connect = () => {
      const sql = postgres({
        host: c.host,
        port: c.port,
        user: 'postgres',
        database: 'postgres',
        max: 1,
        connect_timeout: 1,
        idle_timeout: 0,
        fetch_types: false,
        onnotice: () => {},
        connection: { statement_timeout: statementTimeoutMs, lock_timeout: statementTimeoutMs, application_name: 'drc-split-brain-watcher' },
      });
      clients.add(sql);
      return sql;
    };
    let sql = connect();
    // The write's window starts when the server ran it (its clock is this machine's), not when
    // it was asked: a probe held up connecting to a restarting server is not writable all along.
    const write = () => sql.unsafe<Array<{ at: string; id: string }>>(`INSERT INTO ${WATCH_TABLE} (site) VALUES ($1) RETURNING (extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS at, id::text AS id`, [c.siteId]);
    // When the write committed, by the server's clock (track_commit_timestamp, on in the test
    // kit's pairs): the answer can reach a starved sampler seconds later, and a window stretched to
    // then overlapped the next primary's first writes although this one had stopped long before
    // (a planned switchover under load). Unknown (the setting off, the server gone): undefined.
    const committedAt = async (id: string): Promise<number | undefined> => {
      try {
        const [r] = await sql.unsafe<Array<{ c: string | null }>>(`SELECT (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000)::bigint::text AS c FROM ${WATCH_TABLE} WHERE id = $1`, [id]);
        return r?.c ? Number(r.c) : undefined;
      } catch {
        return undefined;
      }
    };
    const probe = async (): Promise<Seen> => {
      const [r] = await sql.unsafe<Array<{ rec: boolean }>>('SELECT pg_is_in_recovery() AS rec');
      if (r?.rec !== false) return { writable: false, detail: 'in recovery' };
      let rows: Array<{ at: string; id: string }>;
      try {
        rows = await write();
      } catch (e) {
        if ((e as { code?: string }).code !== '42P01') throw e;
        // The first write on this cluster: make the table (a read-only server refuses this too).
        await sql.unsafe(`CREATE TABLE IF NOT EXISTS ${WATCH_TABLE} (id bigserial PRIMARY KEY, site text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`);
        rows = await write();
      }
      const committed = rows[0] ? await committedAt(rows[0].id) : undefined;
      return { writable: true, detail: 'not in recovery, test write committed', at: Number(rows[0]?.at), ...(committed !== undefined ? { committedAt: committed } : {}) };
    };
    const giveUpMs = statementTimeoutMs + 1500;
    loops.push(
      every(async () => {
        const start = Date.now();
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), giveUpMs)));
        const seen = await Promise.race([probe().catch((e: unknown): Seen => ({ writable: false, detail: String((e as Error).message ?? e).slice(0, 200) })), late]);
        clearTimeout(timer);
        if (seen === 'late') {
          // No answer: start afresh on a new connection (the old one may be stuck on a dead socket).
          const old = sql;
          clients.delete(old);
          void old.end({ timeout: 0 }).catch(() => undefined);
          sql = connect();
          emit({ workloadId: c.workloadId, siteId: c.siteId, start, end: Date.now(), writable: false, detail: `no answer within ${giveUpMs} ms` });
          return;
        }
        const now = Date.now();
        const from = seen.at !== undefined && seen.at >= start && seen.at <= now ? seen.at : start;
        // A write known to have committed at one instant was writable then, not until its answer came.
        const end = seen.committedAt !== undefined && seen.committedAt >= from && seen.committedAt <= now ? seen.committedAt : now;
        emit({ workloadId: c.workloadId, siteId: c.siteId, start: from, end, writable: seen.writable, detail: seen.detail });
      }),
    );
  }

  return async () => {
    stopped = true;
    await Promise.all(loops);
    await Promise.all([...clients].map((c) => c.end({ timeout: 1 }).catch(() => undefined)));
  };
}
