import postgres from 'postgres';

/**
 * A client that writes continuously, as an application would: one INSERT at a time into
 * `bench_writes`, against a multi-host URL with `target_session_attrs=read-write` (libpq's way
 * of finding the primary, used the same way for every system measured). Each acknowledged id
 * is remembered, so writes acknowledged before a failover and missing after it are counted.
 */
export class ContinuousWriter {
  /** Acknowledged writes: id, when the acknowledgement arrived, and which server (port) took it. */
  readonly acked: Array<{ id: number; at: number; port: number }> = [];
  private stopped = false;
  private loop?: Promise<void>;
  private sql?: postgres.Sql;
  lastError = '';

  constructor(
    private readonly hosts: Array<{ host: string; port: number }>,
    private readonly opts: { user: string; database: string; intervalMs?: number } = { user: 'postgres', database: 'postgres' },
  ) {}

  private client(h: { host: string; port: number }): postgres.Sql {
    return postgres({ host: h.host, port: h.port, user: this.opts.user, database: this.opts.database, max: 1, connect_timeout: 1, idle_timeout: 0, onnotice: () => {}, fetch_types: false, connection: { statement_timeout: 1000 } });
  }

  /**
   * libpq's `target_session_attrs=read-write`: try each host in turn and keep the first whose
   * session is writable (not in recovery, not read-only). postgres.js's own check trusts
   * default_transaction_read_only, which a hot standby leaves off, so it is not used.
   */
  private async connectWritable(): Promise<postgres.Sql> {
    for (const h of this.hosts) {
      const c = this.client(h);
      try {
        const [r] = await c<Array<{ ro: string }>>`SELECT current_setting('transaction_read_only') AS ro`;
        if (r?.ro === 'off') return c;
        this.lastError = `${h.host}:${h.port} is read-only`;
      } catch (e) {
        this.lastError = `${h.host}:${h.port}: ${(e as Error).message}`;
      }
      void c.end({ timeout: 0 }).catch(() => undefined);
    }
    throw new Error(`no writable host among ${this.hosts.map((h) => `${h.host}:${h.port}`).join(', ')} (${this.lastError})`);
  }

  /** Creates the table on the current primary. */
  async prepare(): Promise<void> {
    const sql = await this.connectWritable();
    try {
      await sql`CREATE TABLE IF NOT EXISTS bench_writes (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`;
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          this.sql ??= await this.connectWritable();
          const [row] = await this.sql!<Array<{ id: string; port: number }>>`INSERT INTO bench_writes DEFAULT VALUES RETURNING id, inet_server_port() AS port`;
          this.acked.push({ id: Number(row!.id), at: Date.now(), port: row!.port });
          if (this.opts.intervalMs) await new Promise((r) => setTimeout(r, this.opts.intervalMs));
        } catch (e) {
          this.lastError = (e as Error).message;
          // Drop the client: the next attempt looks for the writable host again.
          void this.sql?.end({ timeout: 0 }).catch(() => undefined);
          this.sql = undefined;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    })();
  }

  /** Resolves with the ms from `since` to the first write acknowledged by a server other than `oldPort`. */
  async firstWriteElsewhere(since: number, oldPort: number, timeoutMs: number): Promise<number> {
    const deadline = since + timeoutMs;
    while (Date.now() < deadline) {
      const hit = this.acked.find((a) => a.at >= since && a.port !== oldPort);
      if (hit) return hit.at - since;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no write acknowledged by a new primary within ${timeoutMs} ms (last error: ${this.lastError})`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.sql?.end({ timeout: 1 }).catch(() => undefined);
  }

  /** Acknowledged writes missing from the table now (read from the current primary). */
  async lostWrites(): Promise<Array<{ id: number; at: number; port: number }>> {
    const sql = await this.connectWritable();
    try {
      // Only what was acknowledged before the read began must be in it (the writer may go on).
      const known = this.acked.length;
      const rows = await sql<Array<{ id: string }>>`SELECT id FROM bench_writes`;
      const present = new Set(rows.map((r) => Number(r.id)));
      return this.acked.slice(0, known).filter((a) => !present.has(a.id));
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  /** How many acknowledged writes are missing from the table now. */
  async lost(): Promise<number> {
    const sql = await this.connectWritable();
    try {
      const known = this.acked.length;
      const rows = await sql<Array<{ id: string }>>`SELECT id FROM bench_writes`;
      const present = new Set(rows.map((r) => Number(r.id)));
      return this.acked.slice(0, known).filter((a) => !present.has(a.id)).length;
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
}
