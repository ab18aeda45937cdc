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
  /**
   * After a blackout (the coordinator heard no site at all: its own link to NATS, or NATS
   * itself, was down), no site is declared lost for this long either (default: no grace).
   */
  blackoutGraceMs?: number;
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
  private graceUntil: number;
  /** When the current blackout began (no site heard at all), or undefined. */
  private blackoutSince: number | undefined;
  private lastBlackout: { from: number; to: number } | undefined;

  constructor(private readonly opts: SiteTrackerOptions) {
    for (const s of opts.sites) this.sites.set(s.id, { config: s, status: 'unknown', witnesses: new Map() });
    this.graceUntil = opts.graceUntil;
  }

  has(siteId: string): boolean {
    return this.sites.has(siteId);
  }

  /**
   * Records a heartbeat: the site's lease is renewed from `receivedAt`. The caller has put it in
   * order (ingest's AgentSequencer: replays and an agent's earlier runs never reach here).
   */
  heartbeat(hb: Heartbeat, receivedAt: number): 'ok' | 'unknown-site' {
    const rec = this.sites.get(hb.siteId);
    if (!rec) return 'unknown-site';
    rec.agentId = hb.agentId;
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
    this.watchBlackout(now);
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

  /**
   * A blackout: every site's lease ran out together, which says more about the coordinator's
   * own link to NATS (or NATS) than about the sites. What the agents report about each other
   * right after one was formed while they, too, may have heard nobody through NATS, so once a
   * site is heard again the grace period starts over before anything can be declared lost.
   */
  private watchBlackout(now: number): void {
    const heardSomeone = [...this.sites.values()].some((r) => r.leaseExpiresAt !== undefined && now < r.leaseExpiresAt);
    const everHeard = [...this.sites.values()].some((r) => r.leaseExpiresAt !== undefined);
    if (!heardSomeone && everHeard && now >= this.graceUntil) this.blackoutSince ??= now;
    if (heardSomeone && this.blackoutSince !== undefined) {
      this.lastBlackout = { from: this.blackoutSince, to: now };
      this.blackoutSince = undefined;
      this.graceUntil = Math.max(this.graceUntil, now + (this.opts.blackoutGraceMs ?? 0));
    }
  }

  private statusOf(siteId: string, rec: SiteRecord, now: number): { status: SiteStatus; evidence: string[]; leaseExpiredAt?: number } {
    const expiresAt = rec.leaseExpiresAt ?? this.graceUntil;
    if (now < expiresAt) return { status: rec.leaseExpiresAt === undefined ? 'unknown' : 'up', evidence: [] };
    // Lost stays lost until the site's agent is heard again (what others can see changes nothing).
    if (rec.status === 'lost') return { status: 'lost', evidence: [] };
    if (now < this.graceUntil) return { status: rec.status === 'unknown' ? 'unknown' : 'suspect', evidence: this.lastBlackout ? [`the coordinator heard no site from ${new Date(this.lastBlackout.from).toISOString()} to ${new Date(this.lastBlackout.to).toISOString()}: nothing is declared lost before ${new Date(this.graceUntil).toISOString()}, while the agents' views of each other refresh`] : [] };
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
