import { isLeaseConflictError, systemClock, type Clock, type LeaseStore, type Logger, type TimerHandle } from '@drc/runtime';
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
  /**
   * The lease store (NATS KV in production: runtime's createNatsLeaseStore; the simulator's lease
   * KV in a simulation). Its requests should give up after `leaseRequestTimeoutMs(ttlMs)`.
   */
  leases: LeaseStore;
  /** The leadership key (one per shard). */
  key?: string;
  candidateId: string;
  /** A leader that has not renewed for this long is replaced (ms). */
  ttlMs: number;
  logger: Logger;
  /** Timers and time (the OS's by default; the simulator's in a simulation). */
  clock?: Clock;
  /** Overrides `clock.now` for reading the time (tests). */
  now?: () => number;
}

/**
 * Pure. How long a lease request may go unanswered before it is given up on and the next round
 * sends it again. The JetStream client's own default (5 s) is longer than the lease is valid: a
 * request lost with a dropped link (its answer never comes, although the client is back within
 * 250 ms) held the round until the lease had run out (chaos seed 38006).
 */
export function leaseRequestTimeoutMs(ttlMs: number): number {
  return Math.max(100, Math.floor(ttlMs / 3));
}

const leaseText = new TextEncoder();
const leaseBytes = new TextDecoder();

/**
 * Leader election through a lease in a compare-and-set store (a NATS KV key's revision in
 * production, the simulator's lease KV in a simulation); time and timers come from a Clock.
 *
 * The leader renews every ttl/3 with `update(key, lease, lastRevision)`; a stale revision is
 * rejected by the server, so two candidates can never both think they renewed. A standby
 * takes over only after it has seen NO change of the key for a whole TTL, measured on its own
 * clock (no clock comparison between machines), and only by a compare-and-set that bumps
 * the leader epoch. A leader that cannot renew steps down before its TTL runs out (at
 * ttl × 2/3 after sending its last renewal that succeeded), so the old leader has stopped before a
 * standby starts.
 *
 * The renewal timer shares the event loop with the coordinator's own work, so a long stretch of
 * work (rehydrating thousands of workloads, a burst of messages) starves it: the renewal's answer
 * is read late and taken as lost. A leader whose renewal failed that way looks at the key before
 * giving up: a lease still its own, at its epoch, means nobody took over (a standby takes it only
 * by a compare-and-set that names itself), and renewing it by compare-and-set keeps the lead at
 * the same epoch. Stepping down instead cost the coordinator a new epoch and a second
 * rehydration of everything, the very work that starved it. A stall of the timer long enough to
 * threaten the lease is logged with its length.
 */
export class LeaderElector {
  private kv?: LeaseStore;
  private timer?: TimerHandle;
  private revision = 0;
  private lastRenewedAt = 0;
  private seenRevision = -1;
  private seenChangeAt = 0;
  private state: LeadershipState = { leader: false, leaderEpoch: 0 };
  private readonly listeners = new Set<(s: LeadershipState) => void>();
  private readonly key: string;
  private readonly now: () => number;
  private readonly clock: Clock;
  private running = false;
  private busy = false;
  private readonly periodMs: number;
  /** How long the lease store's requests should wait for an answer (see leaseRequestTimeoutMs). */
  readonly requestTimeoutMs: number;
  /** When the round timer last fired (its lateness is the event loop's delay, as the lease sees it). */
  private lastTickAt = 0;

  constructor(private readonly opts: ElectorOptions) {
    this.key = opts.key ?? 'leader';
    this.clock = opts.clock ?? systemClock;
    this.now = opts.now ?? (() => this.clock.now());
    // Standbys look often (a released lease is taken at once); leaders renew at least every ttl/3.
    this.periodMs = Math.max(50, Math.min(500, Math.floor(opts.ttlMs / 3)));
    // A lease request unanswered this long is given up on and the next round sends it again.
    // The JetStream client's own default (5 s) is longer than the lease is valid: a request lost
    // with a dropped link (its answer never comes, although the client is back within 250 ms)
    // held the round until the lease had run out (chaos seed 38006).
    this.requestTimeoutMs = leaseRequestTimeoutMs(opts.ttlMs);
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
    // Over NATS the bucket is made with the client's default timeout (a replicated bucket can take
    // seconds to make) and used through a client that gives up on a lease request after
    // requestTimeoutMs (runtime's createNatsLeaseStore).
    await this.opts.leases.open?.();
    this.kv = this.opts.leases;
    this.running = true;
    this.seenChangeAt = this.now();
    await this.round();
    this.lastTickAt = this.now();
    this.timer = this.clock.setInterval(() => this.tick(), this.periodMs);
  }

  /** Stops campaigning; a leader marks its lease released so a standby takes over at once. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
    if (this.state.leader && this.kv) {
      const lease: Lease = { holder: this.opts.candidateId, leaderEpoch: this.state.leaderEpoch, released: true };
      await this.kv.update(this.key, encodeLease(lease), this.revision).catch(() => undefined);
    }
    this.set({ leader: false, leaderEpoch: this.state.leaderEpoch, holder: undefined });
  }

  private set(next: LeadershipState): void {
    const changed = next.leader !== this.state.leader || next.leaderEpoch !== this.state.leaderEpoch;
    this.state = next;
    if (changed) for (const l of this.listeners) l(next);
  }

  private tick(): void {
    const now = this.now();
    const stalledMs = now - this.lastTickAt;
    this.lastTickAt = now;
    // The timer came late by more than the lease's slack (valid for ttl × 2/3, renewed every
    // period): whatever held the event loop let the lease run out, or nearly. Said here, with the
    // length, because the step-down or the NotLeaderErrors it causes do not tell why.
    if (this.running && stalledMs - this.periodMs > this.opts.ttlMs / 3) {
      this.opts.logger.warn(
        { stalledMs, ttlMs: this.opts.ttlMs, leader: this.state.leader, leaderEpoch: this.state.leaderEpoch, renewalInFlight: this.busy },
        'event loop stalled: the leadership lease timer ran late by more than the lease can absorb (the coordinator was busy with its own work)',
      );
    }
    void this.round();
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

  private async renew(retry = true): Promise<void> {
    const lease: Lease = { holder: this.opts.candidateId, leaderEpoch: this.state.leaderEpoch, released: false };
    // The lease runs from when the renewal was sent, not from when its answer came back: a
    // standby starts counting the TTL when it sees the new revision, which can be long before a
    // slow answer reaches this leader.
    const sentAt = this.now();
    try {
      this.revision = await this.kv!.update(this.key, encodeLease(lease), this.revision);
      this.lastRenewedAt = sentAt;
    } catch (e) {
      const lost = isLeaseConflictError(e);
      // Unanswered (a request lost with a dropped link gives up after requestTimeoutMs) and still
      // within the lease: send it again at once over the connection as it is now. Left to the next
      // round, the retry could come after the lease ran out: a request timed out after TTL/3
      // holds its round past the tick due then, and the next free tick can fall just past the
      // lease's end (TTL x 2/3 from the previous renewal).
      if (!lost && this.isLeader()) {
        if (retry) return this.renew(false);
        return; // the next round tries again
      }
      // A conflict can be our own renewal whose answer was given up on but which landed.
      const kept = await this.keepOwnLease();
      if (kept === true) return;
      this.opts.logger.warn(
        { err: e, leaderEpoch: this.state.leaderEpoch, leaseAgeMs: this.now() - this.lastRenewedAt, ttlMs: this.opts.ttlMs, found: kept },
        lost ? 'leadership lost to another coordinator' : 'cannot renew leadership lease; stepping down',
      );
      this.set({ leader: false, leaderEpoch: this.state.leaderEpoch });
      this.seenChangeAt = this.now();
    }
  }

  /**
   * After a renewal failed (no answer in time past the lease's validity, or a revision conflict):
   * renews the lease at the same epoch if the key still holds it, by compare-and-set on the
   * revision read. True when renewed; otherwise what was found (for the step-down log).
   */
  private async keepOwnLease(): Promise<true | string> {
    const kv = this.kv!;
    let entry;
    try {
      entry = await kv.get(this.key);
    } catch (e) {
      return `the lease could not be read (${(e as Error).message})`;
    }
    if (!entry) return 'no lease at all';
    let held: Lease;
    try {
      held = LeaseSchema.parse(JSON.parse(leaseBytes.decode(entry.value) || '{}'));
    } catch {
      return 'an unreadable lease';
    }
    if (held.holder !== this.opts.candidateId || held.leaderEpoch !== this.state.leaderEpoch || held.released) {
      return `lease of ${held.holder} at leader epoch ${held.leaderEpoch}${held.released ? ' (released)' : ''}`;
    }
    const lease: Lease = { holder: this.opts.candidateId, leaderEpoch: this.state.leaderEpoch, released: false };
    const sentAt = this.now();
    try {
      this.revision = await kv.update(this.key, encodeLease(lease), entry.revision);
    } catch (e) {
      return `the lease changed while being renewed (${(e as Error).message})`;
    }
    this.opts.logger.warn({ leaderEpoch: this.state.leaderEpoch, leaseAgeMs: sentAt - this.lastRenewedAt, ttlMs: this.opts.ttlMs }, 'leadership lease renewed after a renewal went unanswered (nobody took it over meanwhile); leading on at the same epoch');
    this.lastRenewedAt = sentAt;
    return true;
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
    if (!entry) {
      const epoch = this.state.leaderEpoch + 1;
      try {
        this.revision = await kv.create(this.key, encodeLease({ holder: this.opts.candidateId, leaderEpoch: epoch, released: false }));
        return this.won(epoch, now);
      } catch {
        return; // someone else created it first
      }
    }
    const parsed = LeaseSchema.safeParse(JSON.parse(leaseBytes.decode(entry.value) || '{}'));
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
      this.revision = await kv.update(this.key, encodeLease({ holder: this.opts.candidateId, leaderEpoch: epoch, released: false }), entry.revision);
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

/** Pure. A lease as the bytes stored under the key (JSON, as before the ports). */
function encodeLease(lease: Lease): Uint8Array {
  return leaseText.encode(JSON.stringify(lease));
}
