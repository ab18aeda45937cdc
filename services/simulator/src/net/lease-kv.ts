import { LeaseConflictError, type Clock, type LeaseEntry, type LeaseStore } from '@drc/runtime';
import type { Prng } from '../kernel/prng';
import type { Scheduler } from '../kernel/scheduler';
import type { Network } from './network';

export interface LeaseKvFaults {
  /** Probability that the server answers an operation with an error (without applying it). */
  failRate: number;
  /** Probability that an answer is delayed by up to `slowMaxMs` (the operation was applied). */
  slowRate: number;
  slowMaxMs: number;
}

export const NO_LEASE_FAULTS: LeaseKvFaults = { failRate: 0, slowRate: 0, slowMaxMs: 0 };

/**
 * A failed lease-store call that is not a conflict: the caller knows nothing of whether it was
 * applied. Conflicts (create on an existing key, update at a stale revision) are the port's
 * LeaseConflictError, as the NATS shell throws them.
 */
export class LeaseStoreError extends Error {
  readonly code: 'LEASE_TIMEOUT' | 'LEASE_UNAVAILABLE';
  readonly retryable: boolean;
  constructor(code: LeaseStoreError['code'], message: string) {
    super(message);
    this.name = 'LeaseStoreError';
    this.code = code;
    this.retryable = true;
  }
}

/**
 * A NATS KV bucket for leases, on the `nats` node: one revision counter for the bucket,
 * create-if-absent, compare-and-set on the revision, delete. Like NATS KV it has no TTL of its
 * own for a held key: the elector decides from the value it wrote (holder, expiry) when a lease
 * is over, on its own clock. Every call travels the network both ways; a cut link, a crashed
 * server or a lost answer surface as a timeout on the caller's clock, and an operation whose
 * answer was lost may well have been applied.
 */
export class SimLeaseKv {
  private readonly entries = new Map<string, LeaseEntry>();
  private revision = 0;
  ops = 0;

  constructor(
    private readonly sched: Scheduler,
    private readonly net: Network,
    private readonly rng: Prng,
    public faults: LeaseKvFaults = NO_LEASE_FAULTS,
    private readonly serverNode = 'nats',
  ) {}

  /** What the bucket holds now (for checkers). */
  peek(key: string): LeaseEntry | undefined {
    return this.entries.get(key);
  }

  /** A client of the bucket from `node`, answering within `timeoutMs` of its own clock or failing. */
  client(node: string, clock: Clock, timeoutMs = 1000): LeaseStore {
    const call = <T>(op: string, apply: () => T): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        let settled = false;
        const timer = clock.setTimeout(() => {
          if (settled) return;
          settled = true;
          reject(new LeaseStoreError('LEASE_TIMEOUT', `kv ${op}: timeout after ${timeoutMs} ms`));
        }, timeoutMs);
        this.net.send(node, this.serverNode, `kv-${op}`, () => {
          this.ops++;
          let outcome: { ok: true; value: T } | { ok: false; error: unknown };
          if (this.rng.chance(this.faults.failRate)) outcome = { ok: false, error: new LeaseStoreError('LEASE_UNAVAILABLE', `kv ${op}: server error`) };
          else {
            try {
              outcome = { ok: true, value: apply() };
            } catch (e) {
              outcome = { ok: false, error: e };
            }
          }
          const slow = this.rng.chance(this.faults.slowRate) ? this.rng.next() * this.faults.slowMaxMs : 0;
          this.net.send(this.serverNode, node, `kv-${op}-reply`, () => {
            if (settled) return;
            settled = true;
            clock.clearTimeout(timer);
            if (outcome.ok) resolve(outcome.value);
            else reject(outcome.error);
          }, slow);
        });
      });
    return {
      get: (key) => call('get', () => {
        const e = this.entries.get(key);
        return e ? { value: e.value, revision: e.revision } : null;
      }),
      create: (key, value) => call('create', () => {
        if (this.entries.has(key)) throw new LeaseConflictError(`kv create ${key}: wrong last sequence (key exists)`);
        return this.write(key, value);
      }),
      update: (key, value, revision) => call('update', () => {
        const e = this.entries.get(key);
        if (!e || e.revision !== revision) throw new LeaseConflictError(`kv update ${key}: wrong last sequence (have ${e?.revision ?? 0}, expected ${revision})`);
        return this.write(key, value);
      }),
      delete: (key) => call('delete', () => {
        this.entries.delete(key);
      }),
    };
  }

  private write(key: string, value: Uint8Array): number {
    const revision = ++this.revision;
    this.entries.set(key, { value, revision });
    this.sched.trace.record(this.sched.now, 'kv', 'write', `${key} rev ${revision}`);
    return revision;
  }
}
