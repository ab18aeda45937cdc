import type { Prng } from '../kernel/prng';
import type { Scheduler } from '../kernel/scheduler';
import type { Network } from '../net/network';

export type CopyRole = 'primary' | 'replica' | 'fenced' | 'stopped';

/** One WAL record: a client write, on the timeline it was written on. */
export interface WalRecord {
  writeId: number;
  timeline: number;
  /** Virtual time the primary wrote it. */
  at: number;
}

/** One copy of a workload's database at one site. */
export interface PgCopy {
  siteId: string;
  role: CopyRole;
  /** The role a fence replaced (unfence restores it). */
  roleBeforeFence: CopyRole | undefined;
  timeline: number;
  /** The WAL this copy holds, in order; its LSN is its length. */
  wal: WalRecord[];
  /** The copy a replica streams from. */
  upstream: string | undefined;
  /** The server is down (its host crashed): no writes, no answers. */
  down: boolean;
  /** A quiesced primary keeps its role but takes no writes (a planned switchover). */
  quiesced: boolean;
  /** WAL shipping to this replica stopped because its history diverged (needs a rewind). */
  diverged: boolean;
  /** Extra replication lag this replica has now (ms), on top of the shipping interval. */
  extraLagMs: number;
  /** Set when the copy came back writable by itself (its host restarted with the primary role on disk); cleared by any operation. */
  restartedWritableAt?: number | undefined;
}

/** A write the client saw acknowledged, and by which copy. */
export interface AckedWrite {
  writeId: number;
  siteId: string;
  timeline: number;
  at: number;
}

export interface PgClusterOptions {
  workloadId: string;
  sites: string[];
  primarySite: string;
  /** Synchronous commit: a write is acknowledged only once a replica has it (`ANY 1`). */
  synchronous: boolean;
  /** Client writes per second (spread evenly). */
  writeEveryMs: number;
  /** WAL is shipped to replicas this often (ms). */
  shipEveryMs: number;
  /** The network node name of a site's database host (`site-A`). */
  hostNode: (siteId: string) => string;
}

/**
 * A workload's database copies behaving like PostgreSQL streaming replication, simplified to
 * what failover safety depends on: every write is a WAL record; a primary appends, replicas
 * receive their upstream's records after a lag while the path between their hosts is up; a
 * replica whose history diverged from its upstream's (an old primary that wrote past the fork)
 * receives nothing until rewound, and a rewind throws away what it had past the fork. A promotion
 * starts a new timeline. A client writes at a steady rate to every copy that accepts writes and
 * records which writes were acknowledged, by which copy: in synchronous mode only once a replica
 * holds the record, in asynchronous mode at once.
 */
export class PgCluster {
  readonly copies = new Map<string, PgCopy>();
  readonly acked: AckedWrite[] = [];
  /** Writes sent and waiting for a synchronous standby: writeId → the copy that wrote it. */
  private readonly waitingSync = new Map<number, { siteId: string; timeline: number; at: number; pos: number }>();
  /** Bumped at every change of a copy's role or history (checkers re-judge data loss then). */
  changes = 0;
  /** Told of every operation as it completes (checkers: a promotion is judged at that instant). */
  readonly listeners: Array<(op: string, siteId: string) => void> = [];
  private nextWrite = 1;
  writes = 0;

  constructor(
    private readonly sched: Scheduler,
    private readonly net: Network,
    private readonly rng: Prng,
    readonly opts: PgClusterOptions,
  ) {
    for (const s of opts.sites) {
      const primary = s === opts.primarySite;
      this.copies.set(s, { siteId: s, role: primary ? 'primary' : 'replica', roleBeforeFence: undefined, timeline: 1, wal: [], upstream: primary ? undefined : opts.primarySite, down: false, quiesced: false, diverged: false, extraLagMs: 0 });
    }
  }

  copy(siteId: string): PgCopy {
    const c = this.copies.get(siteId);
    if (!c) throw new Error(`${this.opts.workloadId}: no copy at ${siteId}`);
    return c;
  }

  /** Starts the client and the WAL shipper (scheduler events of no process: they are the world). */
  start(): void {
    const tick = () => {
      this.clientWrite();
      this.sched.after(this.opts.writeEveryMs, tick, 'pg-write', undefined);
    };
    const ship = () => {
      this.shipWal();
      this.sched.after(this.opts.shipEveryMs, ship, 'pg-ship', undefined);
    };
    this.sched.after(this.rng.int(0, this.opts.writeEveryMs), tick, 'pg-write', undefined);
    this.sched.after(this.rng.int(0, this.opts.shipEveryMs), ship, 'pg-ship', undefined);
  }

  /** True when the copy takes client writes now. */
  acceptsWrites(c: PgCopy): boolean {
    return c.role === 'primary' && !c.down && !c.quiesced;
  }

  writable(): PgCopy[] {
    return [...this.copies.values()].filter((c) => this.acceptsWrites(c));
  }

  /** How many copies take writes now; allocates nothing (the checker asks after every step). */
  writableCount(): number {
    let n = 0;
    for (const c of this.copies.values()) if (this.acceptsWrites(c)) n++;
    return n;
  }

  lsn(c: PgCopy): number {
    return c.wal.length;
  }

  /** One round of client writes (`start` schedules it; an estate may drive many clusters in one event). */
  clientWrite(): void {
    for (const c of this.writable()) {
      const rec: WalRecord = { writeId: this.nextWrite++, timeline: c.timeline, at: this.sched.now };
      c.wal.push(rec);
      this.writes++;
      if (this.opts.synchronous) this.waitingSync.set(rec.writeId, { siteId: c.siteId, timeline: c.timeline, at: rec.at, pos: c.wal.length - 1 });
      else this.acked.push({ writeId: rec.writeId, siteId: c.siteId, timeline: c.timeline, at: this.sched.now });
    }
  }

  /** Whether a replica's WAL is a prefix of its upstream's (same records at the same positions). */
  private compatible(replica: PgCopy, upstream: PgCopy): boolean {
    const n = replica.wal.length;
    if (n === 0) return true;
    if (n > upstream.wal.length) return false;
    return replica.wal[n - 1]!.writeId === upstream.wal[n - 1]!.writeId;
  }

  /** One round of WAL shipping (see clientWrite). */
  shipWal(): void {
    for (const r of this.copies.values()) {
      if (r.role !== 'replica' || r.down || r.upstream === undefined) continue;
      const up = this.copies.get(r.upstream);
      if (!up || up.down) continue;
      if (this.net.isCut(this.opts.hostNode(r.siteId), this.opts.hostNode(up.siteId))) continue;
      if (!this.compatible(r, up)) {
        if (!r.diverged) this.sched.trace.record(this.sched.now, `pg-${this.opts.workloadId}`, 'wal-diverged', `${r.siteId} from ${up.siteId} at lsn ${r.wal.length}`);
        r.diverged = true;
        continue;
      }
      r.diverged = false;
      const cutoff = this.sched.now - r.extraLagMs;
      while (r.wal.length < up.wal.length && up.wal[r.wal.length]!.at <= cutoff) r.wal.push(up.wal[r.wal.length]!);
      r.timeline = Math.max(r.timeline, up.timeline);
    }
    if (this.opts.synchronous) this.ackSynchronous();
  }

  /** Acknowledges each waiting write once a replica (other than the copy that wrote it) holds it. */
  private ackSynchronous(): void {
    for (const [writeId, w] of this.waitingSync) {
      const held = [...this.copies.values()].some((c) => c.siteId !== w.siteId && c.wal[w.pos]?.writeId === writeId);
      if (!held) continue;
      this.waitingSync.delete(writeId);
      // The writer must still be up to send the commit's answer back to the client.
      if (this.copy(w.siteId).down) continue;
      this.acked.push({ writeId, siteId: w.siteId, timeline: w.timeline, at: this.sched.now });
    }
  }

  // ---- operations (the driver calls these once its action's duration has passed)

  fence(siteId: string): void {
    const c = this.copy(siteId);
    if (c.role !== 'fenced') c.roleBeforeFence = c.role;
    c.role = 'fenced';
    this.note(siteId, 'fence');
  }

  unfence(siteId: string): void {
    const c = this.copy(siteId);
    if (c.role === 'fenced' || c.role === 'stopped') c.role = c.roleBeforeFence === 'primary' ? 'primary' : 'replica';
    c.roleBeforeFence = undefined;
    c.quiesced = false;
    this.note(siteId, 'unfence');
  }

  stop(siteId: string): void {
    const c = this.copy(siteId);
    if (c.role !== 'stopped' && c.role !== 'fenced') c.roleBeforeFence = c.role;
    c.role = 'stopped';
    this.note(siteId, 'stop');
  }

  quiesce(siteId: string): void {
    this.copy(siteId).quiesced = true;
    this.note(siteId, 'quiesce');
  }

  /** Promotes a copy: a new timeline, no upstream, writable. */
  promote(siteId: string): void {
    const c = this.copy(siteId);
    const top = Math.max(...[...this.copies.values()].map((x) => x.timeline));
    c.timeline = top + 1;
    c.role = 'primary';
    c.upstream = undefined;
    c.quiesced = false;
    c.diverged = false;
    c.roleBeforeFence = undefined;
    this.note(siteId, 'promote', `timeline ${c.timeline} lsn ${c.wal.length}`);
  }

  /**
   * Makes a copy a replica of `upstream` (demote, reprotect). A copy whose WAL went past the
   * fork is rewound first: the records it had beyond the common prefix are gone.
   */
  follow(siteId: string, upstream: string): void {
    const c = this.copy(siteId);
    const up = this.copy(upstream);
    let common = 0;
    while (common < c.wal.length && common < up.wal.length && c.wal[common]!.writeId === up.wal[common]!.writeId) common++;
    const dropped = c.wal.length - common;
    if (dropped > 0) c.wal = c.wal.slice(0, common);
    c.role = 'replica';
    c.upstream = upstream;
    c.quiesced = false;
    c.diverged = false;
    c.roleBeforeFence = undefined;
    this.note(siteId, 'follow', `${upstream}${dropped > 0 ? `, rewound ${dropped} records` : ''}`);
  }

  /** The host crashed: the server is down, its state on disk stays. */
  crashHost(siteId: string): void {
    this.copy(siteId).down = true;
    this.note(siteId, 'host-down');
  }

  /** The host is back: the server starts in the role on its disk (a primary comes back writable). */
  restartHost(siteId: string): void {
    const c = this.copy(siteId);
    c.down = false;
    c.quiesced = false;
    this.note(siteId, 'host-up', c.role);
  }

  private note(siteId: string, kind: string, detail = ''): void {
    this.changes++;
    const c = this.copies.get(siteId);
    if (c) c.restartedWritableAt = kind === 'host-up' && this.acceptsWrites(c) ? this.sched.now : undefined;
    for (const l of this.listeners) l(kind, siteId);
    this.sched.trace.record(this.sched.now, `pg-${this.opts.workloadId}`, kind, `${siteId} ${detail}`.trim());
  }

  /**
   * Acknowledged writes that no copy accepting writes now holds and no copy could still bring
   * back (for checkers: "no acknowledged write lost beyond the policy"). With no writable copy
   * nothing is judged (an outage loses availability, not data, until a primary is chosen).
   */
  lostWrites(): AckedWrite[] {
    const writable = this.writable();
    if (writable.length !== 1) return [];
    const primary = writable[0]!;
    const held = new Set(primary.wal.map((r) => r.writeId));
    return this.acked.filter((w) => !held.has(w.writeId));
  }
}
