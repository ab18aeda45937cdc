import type { CommandAction } from '@drc/contracts';
import type { Clock } from '@drc/runtime';
import { DriverError, type ActionContext, type ActionOutcome, type ProbeResult, type WorkloadDriver } from '@drc/site-agent';
import type { Prng } from '../kernel/prng';
import type { PgCluster } from './cluster';

/** Durations and failures of a simulated copy's actions and probes. */
export interface PgDriverFaults {
  /** How long an action takes (ms, uniform in [lo, hi]). */
  actionMs: [number, number];
  /** Probability that an action fails (after its duration, changing nothing). */
  actionFailRate: number;
  /** Probability that a probe hangs for `probeStallMs` (a health check timing out on a healthy copy). */
  probeStallRate: number;
  probeStallMs: number;
  /** Probability that a probe of a healthy copy says unhealthy (flapping health). */
  probeFlapRate: number;
}

export const CALM_PG: PgDriverFaults = { actionMs: [20, 200], actionFailRate: 0, probeStallRate: 0, probeStallMs: 0, probeFlapRate: 0 };

const ALL: CommandAction[] = ['fence', 'unfence', 'promote', 'demote', 'reprotect', 'quiesce', 'start', 'stop', 'redirect', 'snapshot', 'drillStart', 'drillCleanup'];

/**
 * The site-agent driver port over one copy of a simulated PostgreSQL cluster: what an agent's
 * postgres driver would see and do at that site, on the agent's own clock. Probes read the copy
 * (role, health, LSN, lag behind its upstream); actions take a while, may fail, and change the
 * copy only when they complete.
 */
export class SimPgDriver implements WorkloadDriver {
  readonly type = 'postgres' as const;
  readonly capabilities: ReadonlySet<CommandAction> = new Set(ALL);

  constructor(
    private readonly cluster: PgCluster,
    readonly siteId: string,
    private readonly clock: Clock,
    private readonly rng: Prng,
    public faults: PgDriverFaults = CALM_PG,
  ) {}

  async probe(): Promise<ProbeResult> {
    if (this.rng.chance(this.faults.probeStallRate)) await this.clock.sleep(this.faults.probeStallMs);
    const c = this.cluster.copy(this.siteId);
    if (c.down) return { role: 'unknown', healthy: false, detail: 'connection refused' };
    const lsn = this.cluster.lsn(c);
    let lagSeconds = 0;
    if (c.role === 'replica' && c.upstream !== undefined) {
      const up = this.cluster.copy(c.upstream);
      const behind = up.wal.length > lsn ? (up.wal.at(-1)!.at - (c.wal.at(-1)?.at ?? up.wal[0]!.at)) / 1000 : 0;
      lagSeconds = Math.max(0, behind);
    }
    const flap = this.rng.chance(this.faults.probeFlapRate);
    const healthy = c.role !== 'stopped' && !c.diverged && !flap;
    return {
      role: c.role,
      healthy,
      ...(healthy ? {} : { detail: flap ? 'probe failed (flap)' : c.diverged ? 'replication stopped: history diverged, needs rewind' : `copy is ${c.role}` }),
      replication: { position: String(lsn), lagSeconds, lagBytes: Math.max(0, (c.upstream !== undefined ? this.cluster.copy(c.upstream).wal.length : lsn) - lsn) * 100, ...(c.upstream !== undefined ? { upstreamSite: c.upstream } : {}) },
    };
  }

  async execute(action: CommandAction, params: Record<string, unknown>, ctx: ActionContext): Promise<ActionOutcome> {
    if (ctx.signal.aborted || this.clock.now() > ctx.deadline) throw new DriverError(`${action}: deadline passed before it started`);
    // A demote or reprotect (pg_rewind) stops the server first: an old primary takes no writes
    // while it is being turned into a replica, however long that takes.
    const before = this.cluster.copy(this.siteId);
    if ((action === 'demote' || action === 'reprotect') && !before.down && before.role === 'primary') this.cluster.stop(this.siteId);
    const [lo, hi] = this.faults.actionMs;
    const ms = lo + this.rng.next() * (hi - lo);
    if (ms > 0) await this.clock.sleep(ms);
    const c = this.cluster.copy(this.siteId);
    if (c.down) throw new DriverError(`${action}: server not running`, true);
    if (this.rng.chance(this.faults.actionFailRate)) throw new DriverError(`${action}: injected failure`, true);
    switch (action) {
      case 'fence':
        this.cluster.fence(this.siteId);
        return { detail: { role: 'fenced' } };
      case 'stop':
        this.cluster.stop(this.siteId);
        return { detail: { role: 'stopped' } };
      case 'unfence':
      case 'start':
        this.cluster.unfence(this.siteId);
        return { detail: { role: this.cluster.copy(this.siteId).role } };
      case 'promote':
        if (c.role !== 'primary') this.cluster.promote(this.siteId);
        return { detail: { role: 'primary', position: String(this.cluster.lsn(c)) } };
      case 'demote':
      case 'reprotect': {
        const upstream = typeof params.upstreamSite === 'string' ? params.upstreamSite : this.currentPrimary();
        if (!upstream || upstream === this.siteId) throw new DriverError(`${action}: no primary to follow`);
        this.cluster.follow(this.siteId, upstream);
        return { detail: { role: 'replica', upstreamSite: upstream } };
      }
      case 'quiesce':
        this.cluster.quiesce(this.siteId);
        return { detail: { quiesced: true } };
      case 'drillStart':
        return { detail: { drill: 'running', check: 'passed' } };
      case 'drillCleanup':
        return { detail: { drill: 'removed' } };
      case 'redirect':
      case 'snapshot':
        return { detail: { [action]: 'done' } };
    }
  }

  /** The other copy that is primary on the newest timeline, if any. */
  private currentPrimary(): string | undefined {
    const primaries = [...this.cluster.copies.values()].filter((x) => x.siteId !== this.siteId && x.role === 'primary').sort((a, b) => b.timeline - a.timeline);
    return primaries[0]?.siteId;
  }

  async close(): Promise<void> {}
}
