import { FailoverRecordSchema, WorkloadSetupSchema, type ProjectionStatus } from '@drc/contracts';
import type { EventStore, StoredEvent, Subscription } from '@drc/event-store';
import { eq, sql } from 'drizzle-orm';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { projectionDdl, projectionTables, type ProjectionTables } from './tables';

/** Workload streams are the ones projected. */
const WORKLOAD_PREFIX = 'workload-';
const CHECKPOINT = 'workloads';
/** The event types that change a read-model row. */
const PROJECTED = new Set(['WorkloadRegistered', 'WorkloadStateChanged', 'FailoverCompleted']);

export interface ProjectorOptions {
  /** The PostgreSQL database holding the event store (the read models live beside it). */
  url: string;
  store: EventStore;
  /** PostgreSQL schema of the read models (default `drc_read`). */
  schema?: string;
  /** Events per page when catching up or rebuilding. */
  pageSize?: number;
  onError?: (e: unknown) => void;
}

export type { ProjectionStatus };

type Row = ProjectionTables['workloads']['$inferInsert'];

/**
 * Read models in PostgreSQL (drizzle), kept by following the event store's global log:
 * `workloads` (state, epoch, primary, failover count) and `failovers` (one row per completed
 * failover). Each batch of events is applied in one transaction together with the checkpoint,
 * so a crash never applies an event twice or skips one; two projectors (a leader and a standby
 * coordinator) may run at once: the checkpoint row serialises them and each skips what the other
 * already applied. `rebuild()` recomputes everything from the first event.
 */
export class Projector {
  readonly schemaName: string;
  private readonly client: postgres.Sql;
  private readonly db: PostgresJsDatabase;
  private readonly t: ProjectionTables;
  private sub?: Subscription;

  constructor(private readonly opts: ProjectorOptions) {
    this.schemaName = opts.schema ?? 'drc_read';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.schemaName)) throw new Error(`projection schema: expected a lowercase SQL name, got "${this.schemaName}"`);
    this.client = postgres(opts.url, { max: 2, onnotice: () => {}, connect_timeout: 5 });
    this.db = drizzle(this.client);
    this.t = projectionTables(this.schemaName);
  }

  /** Creates the schema and tables when missing. Idempotent. */
  async init(): Promise<void> {
    // Read models are disposable: tables of an older shape are dropped and rebuilt from the log.
    const stale = await this.client`SELECT 1 FROM information_schema.tables t WHERE t.table_schema = ${this.schemaName} AND t.table_name = 'workloads'
      AND NOT EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = t.table_schema AND c.table_name = 'workloads' AND c.column_name = 'changed_at_position')`;
    if (stale.length > 0) await this.client.unsafe(`DROP TABLE "${this.schemaName}".workloads, "${this.schemaName}".failovers, "${this.schemaName}".checkpoints`);
    for (const ddl of projectionDdl(this.schemaName)) await this.client.unsafe(ddl);
    await this.db.insert(this.t.checkpoints).values({ name: CHECKPOINT, checkpoint: '', events: 0 }).onConflictDoNothing();
  }

  /** Follows the log from the stored checkpoint until stop(). */
  async start(): Promise<void> {
    await this.init();
    const after = await this.checkpoint();
    this.sub = this.opts.store.subscribeAll({
      ...(after ? { after } : {}),
      streamPrefix: WORKLOAD_PREFIX,
      maxCount: this.opts.pageSize ?? 2000,
      onEvents: async (events) => {
        await this.apply(events);
      },
      onError: (e) => this.opts.onError?.(e),
    });
  }

  async stop(): Promise<void> {
    await this.sub?.stop();
    this.sub = undefined;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.client.end({ timeout: 5 });
  }

  /** Applies every event not yet applied, up to the log's end now. Resolves with how many it applied. */
  async catchUp(): Promise<number> {
    await this.init();
    let after = await this.checkpoint();
    let applied = 0;
    for (;;) {
      const page = await this.opts.store.readAll({ ...(after ? { after } : {}), streamPrefix: WORKLOAD_PREFIX, maxCount: this.opts.pageSize ?? 5000 });
      if (page.length === 0) return applied;
      applied += await this.apply(page);
      after = page[page.length - 1]!.checkpoint;
    }
  }

  /**
   * Recomputes the read models from the first event, in one transaction: readers see the old
   * rows until the new ones are complete. Resolves with the number of events applied.
   */
  async rebuild(onProgress?: (events: number) => void): Promise<number> {
    await this.init();
    return this.db.transaction(async (tx) => {
      await tx.delete(this.t.workloads);
      await tx.delete(this.t.failovers);
      await tx.update(this.t.checkpoints).set({ checkpoint: '', events: 0 }).where(eq(this.t.checkpoints.name, CHECKPOINT));
      let after: string | undefined;
      let total = 0;
      for (;;) {
        const page = await this.opts.store.readAll({ ...(after ? { after } : {}), streamPrefix: WORKLOAD_PREFIX, maxCount: this.opts.pageSize ?? 5000 });
        if (page.length === 0) break;
        total += await this.applyIn(tx as unknown as PostgresJsDatabase, page);
        after = page[page.length - 1]!.checkpoint;
        onProgress?.(total);
      }
      return total;
    });
  }

  async status(): Promise<ProjectionStatus> {
    await this.init();
    const [cp] = await this.db.select().from(this.t.checkpoints).where(eq(this.t.checkpoints.name, CHECKPOINT));
    const [w] = await this.db.select({ n: sql<number>`count(*)::int` }).from(this.t.workloads);
    const [f] = await this.db.select({ n: sql<number>`count(*)::int` }).from(this.t.failovers);
    return { schema: this.schemaName, ...(cp?.checkpoint ? { checkpoint: cp.checkpoint } : {}), eventsApplied: Number(cp?.events ?? 0), workloads: w?.n ?? 0, failovers: f?.n ?? 0 };
  }

  /** Every row of both read models in primary-key order (for comparisons and exports). */
  async rows(): Promise<{ workloads: Array<ProjectionTables['workloads']['$inferSelect']>; failovers: Array<ProjectionTables['failovers']['$inferSelect']> }> {
    const workloads = await this.db.select().from(this.t.workloads).orderBy(this.t.workloads.workloadId);
    const failovers = await this.db.select().from(this.t.failovers).orderBy(this.t.failovers.workloadId, this.t.failovers.streamPosition);
    return { workloads, failovers };
  }

  /** The completed failovers, oldest first (the API's failover list). */
  async failovers(workloadId?: string): Promise<Array<ProjectionTables['failovers']['$inferSelect']>> {
    const q = this.db.select().from(this.t.failovers);
    const rows = await (workloadId ? q.where(eq(this.t.failovers.workloadId, workloadId)) : q);
    return rows.sort((a, b) => a.completedAt - b.completedAt || a.workloadId.localeCompare(b.workloadId));
  }

  private async checkpoint(): Promise<string | undefined> {
    const [cp] = await this.db.select().from(this.t.checkpoints).where(eq(this.t.checkpoints.name, CHECKPOINT));
    return cp?.checkpoint || undefined;
  }

  private apply(events: StoredEvent[]): Promise<number> {
    return this.db.transaction((tx) => this.applyIn(tx as unknown as PostgresJsDatabase, events));
  }

  /** Applies a page inside a transaction: skips what is already applied, then updates rows and the checkpoint. */
  private async applyIn(tx: PostgresJsDatabase, events: StoredEvent[]): Promise<number> {
    const [cp] = await tx.select().from(this.t.checkpoints).where(eq(this.t.checkpoints.name, CHECKPOINT)).for('update');
    const current = cp?.checkpoint ?? '';
    let fresh = events;
    if (current) {
      // Another projector may be ahead: the events up to its checkpoint are applied already.
      const i = events.findIndex((e) => e.checkpoint === current);
      const base = events[0];
      if (i >= 0) fresh = events.slice(i + 1);
      else if (base && !this.startsAfter(events, current)) fresh = [];
    }
    if (fresh.length === 0) return 0;
    const patches = new Map<string, Partial<Row> & { workloadId: string; failoversAdded: number; registered?: Row }>();
    const patchOf = (id: string) => {
      let p = patches.get(id);
      if (!p) patches.set(id, (p = { workloadId: id, failoversAdded: 0 }));
      return p;
    };
    const failoverRows: Array<ProjectionTables['failovers']['$inferInsert']> = [];
    for (const e of fresh) {
      if (!PROJECTED.has(e.type)) continue; // most events (replica reports, timers) change no row
      const id = e.stream.slice(WORKLOAD_PREFIX.length);
      const p = patchOf(id);
      p.changedAt = e.position;
      const at = typeof e.metadata.at === 'number' ? e.metadata.at : e.recordedAt.getTime();
      if (e.type === 'WorkloadRegistered') {
        const setup = WorkloadSetupSchema.safeParse(e.data);
        if (!setup.success) continue;
        p.registered = { workloadId: id, state: e.metadata.stateAfter ?? 'protected', epoch: setup.data.epoch, primarySite: setup.data.primarySite, lastTransitionAt: setup.data.at, failovers: 0, changedAt: e.position };
      } else if (e.type === 'WorkloadStateChanged') {
        const d = e.data as { to?: unknown; epoch?: unknown; primarySite?: unknown };
        if (typeof d.to === 'string') p.state = d.to;
        if (typeof d.epoch === 'number') p.epoch = d.epoch;
        if (typeof d.primarySite === 'string') p.primarySite = d.primarySite;
        p.lastTransitionAt = at;
      } else if (e.type === 'FailoverCompleted') {
        const d = (e.data ?? {}) as Record<string, unknown>;
        const r = FailoverRecordSchema.safeParse({ workloadId: id, fromSite: d.fromSite, toSite: d.toSite, epoch: d.epoch, startedAt: d.startedAt, completedAt: at, rtoMs: d.rtoMs, dataLossSeconds: d.dataLossSeconds, streamPosition: e.position });
        if (!r.success) continue;
        failoverRows.push({ workloadId: id, streamPosition: r.data.streamPosition, fromSite: r.data.fromSite, toSite: r.data.toSite, epoch: r.data.epoch, startedAt: r.data.startedAt, completedAt: r.data.completedAt, rtoMs: r.data.rtoMs, dataLossSeconds: r.data.dataLossSeconds ?? null });
        p.failoversAdded++;
      }
    }
    // New workloads in one statement (a coordinator's first start registers thousands at once).
    const registrations: Row[] = [];
    for (const p of patches.values()) {
      const { workloadId, failoversAdded, registered, ...set } = p;
      if (registered) {
        registrations.push({ ...registered, ...set, failovers: failoversAdded });
      } else {
        await tx
          .update(this.t.workloads)
          .set({ ...set, ...(failoversAdded ? { failovers: sql`${this.t.workloads.failovers} + ${failoversAdded}` } : {}) })
          .where(eq(this.t.workloads.workloadId, workloadId));
      }
    }
    for (let i = 0; i < registrations.length; i += 1000) {
      const cols = ['state', 'epoch', 'primarySite', 'lastTransitionAt', 'failovers', 'changedAt'] as const;
      await tx
        .insert(this.t.workloads)
        .values(registrations.slice(i, i + 1000))
        .onConflictDoUpdate({ target: this.t.workloads.workloadId, set: Object.fromEntries(cols.map((c) => [c, sql.raw(`excluded.${this.t.workloads[c].name}`)])) });
    }
    if (failoverRows.length) await tx.insert(this.t.failovers).values(failoverRows).onConflictDoNothing();
    await tx
      .update(this.t.checkpoints)
      .set({ checkpoint: fresh[fresh.length - 1]!.checkpoint, events: sql`${this.t.checkpoints.events} + ${fresh.length}` })
      .where(eq(this.t.checkpoints.name, CHECKPOINT));
    return fresh.length;
  }

  /** True when the page's first event comes after `checkpoint` in the log (checkpoints are `tx:position`). */
  private startsAfter(events: StoredEvent[], checkpoint: string): boolean {
    const parse = (c: string) => c.split(':').map((x) => BigInt(x));
    try {
      const [ct, cpos] = parse(checkpoint);
      const [et, epos] = parse(events[0]!.checkpoint);
      return et! > ct! || (et === ct && epos! > cpos!);
    } catch {
      return true; // another adapter's token: trust the subscription's order
    }
  }
}
