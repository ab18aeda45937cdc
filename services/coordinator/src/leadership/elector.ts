import { Kvm, type KV } from '@nats-io/kv';
import type { Logger, NatsConnection } from '@drc/runtime';
import { z } from 'zod';

const LeaseSchema = z.object({
  holder: z.string(),
  leaderEpoch: z.number().int().nonnegative(),
  released: z.boolean().default(false),
});
type Lease = z.infer<typeof LeaseSchema>;

export interface LeadershipState {
  leader: boolean;
  leaderEpoch: number;
  holder?: string | undefined;
}

export interface ElectorOptions {
  nc: NatsConnection;
  /** KV bucket name (one per subject prefix, so tests and estates are isolated). */
  bucket: string;
  /** The leadership key (one per shard). */
  key?: string;
  candidateId: string;
  /** A leader that has not renewed for this long is replaced (ms). */
  ttlMs: number;
  /** Cluster servers holding the lease bucket (3 on a 3-node cluster, so one node lost stops nothing). */
  replicas?: number;
  logger: Logger;
  now?: () => number;
}

/**
 * Leader election through a NATS KV lease (compare-and-set on the key's revision).
 *
 * The leader renews every ttl/3 with `update(key, lease, lastRevision)`; a stale revision is
 * rejected by the server, so two candidates can never both think they renewed. A standby
 * takes over only after it has seen NO change of the key for a whole TTL, measured on its own
 * clock (no clock comparison between machines), and only by a compare-and-set that bumps
 * the leader epoch. A leader that cannot renew steps down before its TTL runs out (at
 * ttl × 2/3 after sending its last renewal that succeeded), so the old leader has stopped before a
 * standby starts.
 */
export class LeaderElector {
  private kv?: KV;
  private timer?: NodeJS.Timeout;
  private revision = 0;
  private lastRenewedAt = 0;
  private seenRevision = -1;
  private seenChangeAt = 0;
  private state: LeadershipState = { leader: false, leaderEpoch: 0 };
  private readonly listeners = new Set<(s: LeadershipState) => void>();
  private readonly key: string;
  private readonly now: () => number;
  private running = false;
  private busy = false;

  constructor(private readonly opts: ElectorOptions) {
    this.key = opts.key ?? 'leader';
    this.now = opts.now ?? Date.now;
  }

  get current(): LeadershipState {
    return this.state;
  }

  /** True only while this candidate holds a lease it renewed recently enough. */
  isLeader(): boolean {
    return this.state.leader && this.now() - this.lastRenewedAt < (this.opts.ttlMs * 2) / 3;
  }

  onChange(listener: (s: LeadershipState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    const kvm = new Kvm(this.opts.nc);
    this.kv = await kvm.create(this.opts.bucket, { history: 1, replicas: this.opts.replicas ?? 1 });
    this.running = true;
    this.seenChangeAt = this.now();
    await this.round();
    // Standbys look often (a released lease is taken at once); leaders renew at least every ttl/3.
    this.timer = setInterval(() => void this.round(), Math.max(50, Math.min(500, Math.floor(this.opts.ttlMs / 3))));
  }

  /** Stops campaigning; a leader marks its lease released so a standby takes over at once. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    if (this.state.leader && this.kv) {
      const lease: Lease = { holder: this.opts.candidateId, leaderEpoch: this.state.leaderEpoch, released: true };
      await this.kv.update(this.key, JSON.stringify(lease), this.revision).catch(() => undefined);
    }
    this.set({ leader: false, leaderEpoch: this.state.leaderEpoch, holder: undefined });
  }

  private set(next: LeadershipState): void {
    const changed = next.leader !== this.state.leader || next.leaderEpoch !== this.state.leaderEpoch;
    this.state = next;
    if (changed) for (const l of this.listeners) l(next);
  }

  private async round(): Promise<void> {
    if (!this.running || this.busy || !this.kv) return;
    this.busy = true;
    try {
      if (this.state.leader) await this.renew();
      else await this.campaign();
    } finally {
      this.busy = false;
    }
  }

  private async renew(): Promise<void> {
    const lease: Lease = { holder: this.opts.candidateId, leaderEpoch: this.state.leaderEpoch, released: false };
    // The lease runs from when the renewal was sent, not from when its answer came back: a
    // standby starts counting the TTL when it sees the new revision, which can be long before a
    // slow answer reaches this leader.
    const sentAt = this.now();
    try {
      this.revision = await this.kv!.update(this.key, JSON.stringify(lease), this.revision);
      this.lastRenewedAt = sentAt;
    } catch (e) {
      const lost = /wrong last sequence/i.test(String((e as Error).message));
      if (lost || !this.isLeader()) {
        this.opts.logger.warn({ err: e, leaderEpoch: this.state.leaderEpoch }, lost ? 'leadership lost to another coordinator' : 'cannot renew leadership lease; stepping down');
        this.set({ leader: false, leaderEpoch: this.state.leaderEpoch });
        this.seenChangeAt = this.now();
      }
    }
  }

  private async campaign(): Promise<void> {
    const kv = this.kv!;
    let entry;
    try {
      entry = await kv.get(this.key);
    } catch {
      return; // NATS unreachable: nothing to decide
    }
    const now = this.now();
    if (!entry || entry.operation !== 'PUT') {
      const epoch = this.state.leaderEpoch + 1;
      try {
        this.revision = await kv.create(this.key, JSON.stringify({ holder: this.opts.candidateId, leaderEpoch: epoch, released: false }));
        return this.won(epoch, now);
      } catch {
        return; // someone else created it first
      }
    }
    const parsed = LeaseSchema.safeParse(JSON.parse(entry.string() || '{}'));
    const lease = parsed.success ? parsed.data : { holder: '?', leaderEpoch: 0, released: true };
    if (entry.revision !== this.seenRevision) {
      this.seenRevision = entry.revision;
      this.seenChangeAt = now;
      this.set({ leader: false, leaderEpoch: lease.leaderEpoch, holder: lease.holder });
      if (!lease.released && lease.holder !== this.opts.candidateId) return;
    }
    const expired = now - this.seenChangeAt >= this.opts.ttlMs;
    if (!(expired || lease.released || lease.holder === this.opts.candidateId)) return;
    const epoch = lease.leaderEpoch + 1;
    try {
      this.revision = await kv.update(this.key, JSON.stringify({ holder: this.opts.candidateId, leaderEpoch: epoch, released: false }), entry.revision);
      this.won(epoch, now);
    } catch {
      // lost the race to another standby; watch the new holder
    }
  }

  private won(epoch: number, now: number): void {
    this.lastRenewedAt = now;
    this.opts.logger.info({ leaderEpoch: epoch, candidate: this.opts.candidateId }, 'became leader');
    this.set({ leader: true, leaderEpoch: epoch, holder: this.opts.candidateId });
  }
}
