import type { Heartbeat, SiteConfig, SiteStatus, SiteView } from '@drc/contracts';

export interface SiteTransition {
  siteId: string;
  from: SiteStatus;
  to: SiteStatus;
  at: number;
  leaseExpiredAt?: number;
  evidence: string[];
}

interface SiteRecord {
  config: SiteConfig;
  status: SiteStatus;
  agentId?: string;
  lastSeq?: number;
  lastHeartbeatAt?: number;
  leaseExpiresAt?: number;
  /** What each other site's agent says about reaching this one, and when it said it. */
  witnesses: Map<string, { reachable: boolean; at: number }>;
}

export interface SiteTrackerOptions {
  sites: SiteConfig[];
  /** Lease the coordinator grants when an agent's own claim is absent (ms). */
  defaultLeaseTtlMs: number;
  /** No site is declared lost before this time (startup grace). */
  graceUntil: number;
}

/**
 * Failure detection for sites. A site is `lost` only when its lease has expired, at least one
 * other site is still heard (a live witness), and no live witness says it can still reach it.
 * With a witness that still reaches it, the site is only `suspect` (a cut between that site and
 * the coordinator alone moves nothing); with no live witness at all, the coordinator itself may
 * be cut off, and nothing is declared lost. Not pure (keeps state) but takes time as an argument.
 */
export class SiteTracker {
  private readonly sites = new Map<string, SiteRecord>();

  constructor(private readonly opts: SiteTrackerOptions) {
    for (const s of opts.sites) this.sites.set(s.id, { config: s, status: 'unknown', witnesses: new Map() });
  }

  has(siteId: string): boolean {
    return this.sites.has(siteId);
  }

  /** Records a heartbeat. Returns 'stale' for a replayed or reordered one (same agent, seq not increasing). */
  heartbeat(hb: Heartbeat, receivedAt: number): 'ok' | 'stale' | 'unknown-site' {
    const rec = this.sites.get(hb.siteId);
    if (!rec) return 'unknown-site';
    if (rec.agentId === hb.agentId && rec.lastSeq !== undefined && hb.seq <= rec.lastSeq) return 'stale';
    rec.agentId = hb.agentId;
    rec.lastSeq = hb.seq;
    rec.lastHeartbeatAt = receivedAt;
    rec.leaseExpiresAt = receivedAt + (hb.leaseTtlMs || this.opts.defaultLeaseTtlMs);
    for (const [peer, reachable] of Object.entries(hb.peers)) {
      const target = this.sites.get(peer);
      if (target && peer !== hb.siteId) target.witnesses.set(hb.siteId, { reachable, at: receivedAt });
    }
    return 'ok';
  }

  /** Re-evaluates every site at `now` and returns the status changes. */
  evaluate(now: number): SiteTransition[] {
    const changes: SiteTransition[] = [];
    for (const [siteId, rec] of this.sites) {
      const next = this.statusOf(siteId, rec, now);
      if (next.status !== rec.status) {
        changes.push({ siteId, from: rec.status, to: next.status, at: now, evidence: next.evidence, ...(next.leaseExpiredAt !== undefined ? { leaseExpiredAt: next.leaseExpiredAt } : {}) });
        rec.status = next.status;
      }
    }
    return changes;
  }

  private statusOf(siteId: string, rec: SiteRecord, now: number): { status: SiteStatus; evidence: string[]; leaseExpiredAt?: number } {
    const expiresAt = rec.leaseExpiresAt ?? this.opts.graceUntil;
    if (now < expiresAt) return { status: rec.leaseExpiresAt === undefined ? 'unknown' : 'up', evidence: [] };
    if (now < this.opts.graceUntil) return { status: rec.status === 'lost' ? 'lost' : 'unknown', evidence: [] };
    const evidence = [
      rec.lastHeartbeatAt === undefined
        ? `no heartbeat from site ${siteId} since the coordinator started`
        : `lease of site ${siteId} expired at ${new Date(expiresAt).toISOString()} (last heartbeat ${now - rec.lastHeartbeatAt} ms ago)`,
    ];
    // A witness counts while its own lease is current.
    const reaching: string[] = [];
    const live = [...this.sites.entries()].filter(([id, w]) => id !== siteId && w.leaseExpiresAt !== undefined && now < w.leaseExpiresAt).map(([id]) => id);
    for (const [witness, view] of rec.witnesses) {
      const w = this.sites.get(witness);
      const alive = w?.leaseExpiresAt !== undefined && now < w.leaseExpiresAt;
      if (!alive) continue;
      if (view.reachable) reaching.push(witness);
      else evidence.push(`witness ${witness} cannot reach ${siteId}`);
    }
    if (reaching.length > 0) {
      evidence.push(`witnesses ${reaching.join(', ')} still reach ${siteId}: not declared lost`);
      return { status: 'suspect', evidence, leaseExpiredAt: expiresAt };
    }
    // With no live witness at all, the coordinator may be the one cut off (or every agent is
    // still starting): it hears nobody, so it declares nobody lost.
    if (live.length === 0) {
      evidence.push('no other site is heard either: the coordinator may be the isolated one; not declared lost');
      return { status: 'suspect', evidence, leaseExpiredAt: expiresAt };
    }
    return { status: 'lost', evidence, leaseExpiredAt: expiresAt };
  }

  status(siteId: string): SiteStatus {
    return this.sites.get(siteId)?.status ?? 'unknown';
  }

  views(): SiteView[] {
    return [...this.sites.values()].map((r) => ({
      siteId: r.config.id,
      ...(r.config.name !== undefined ? { name: r.config.name } : {}),
      status: r.status,
      priority: r.config.priority,
      ...(r.agentId !== undefined ? { agentId: r.agentId } : {}),
      ...(r.lastHeartbeatAt !== undefined ? { lastHeartbeatAt: r.lastHeartbeatAt } : {}),
      ...(r.leaseExpiresAt !== undefined ? { leaseExpiresAt: r.leaseExpiresAt } : {}),
      witnesses: Object.fromEntries([...r.witnesses].map(([k, v]) => [k, v.reachable])),
    }));
  }
}
