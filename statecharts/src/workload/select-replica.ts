import type { Candidate } from '@drc/contracts';
import { comparePositions } from '@drc/contracts';

export interface SiteFacts {
  siteId: string;
  priority: number;
  capacity?: number | undefined;
  healthy: boolean;
  lost: boolean;
  position?: string | undefined;
  lagSeconds?: number | undefined;
  /** The copy's last reported role, when known: only a replica may be promoted. */
  role?: string | undefined;
}

export interface Selection {
  chosen?: string | undefined;
  candidates: Candidate[];
}

/**
 * Pure. Chooses the replica to promote and gives the reasons for every candidate.
 * Eligible: site not lost, copy healthy and a replica (a fenced old primary reports itself
 * healthy, with lag 0, yet has diverged), lag known and within `maxLagSeconds`, capacity not 0.
 * Order: most advanced position, then lower site priority, then more free capacity, then id.
 */
export function selectReplica(sites: ReadonlyArray<SiteFacts>, excludeSite: string, maxLagSeconds: number): Selection {
  const candidates: Candidate[] = [];
  for (const s of sites) {
    if (s.siteId === excludeSite) continue;
    const reasons: string[] = [];
    let eligible = true;
    if (s.lost) {
      eligible = false;
      reasons.push('site lost');
    } else reasons.push('site reachable');
    if (!s.healthy) {
      eligible = false;
      reasons.push('copy unhealthy');
    } else reasons.push('copy healthy');
    if (s.role !== undefined && s.role !== 'replica') {
      eligible = false;
      reasons.push(`role ${s.role}, not a replica`);
    }
    if (s.lagSeconds === undefined) {
      eligible = false;
      reasons.push('lag unknown');
    } else if (s.lagSeconds > maxLagSeconds) {
      eligible = false;
      reasons.push(`lag ${s.lagSeconds}s above limit ${maxLagSeconds}s`);
    } else reasons.push(`lag ${s.lagSeconds}s within limit ${maxLagSeconds}s`);
    if (s.capacity === 0) {
      eligible = false;
      reasons.push('no free capacity');
    }
    reasons.push(`priority ${s.priority}`);
    candidates.push({
      siteId: s.siteId,
      eligible,
      reasons,
      priority: s.priority,
      ...(s.position !== undefined ? { position: s.position } : {}),
      ...(s.lagSeconds !== undefined ? { lagSeconds: s.lagSeconds } : {}),
    });
  }
  const ranked = candidates
    .filter((c) => c.eligible)
    .sort((a, b) => {
      const pa = a.position ?? '0';
      const pb = b.position ?? '0';
      const byPos = comparePositions(pb, pa);
      if (byPos !== 0) return byPos;
      if (a.priority !== b.priority) return a.priority - b.priority;
      const ca = sites.find((s) => s.siteId === a.siteId)?.capacity ?? Number.MAX_SAFE_INTEGER;
      const cb = sites.find((s) => s.siteId === b.siteId)?.capacity ?? Number.MAX_SAFE_INTEGER;
      if (ca !== cb) return cb - ca;
      return a.siteId < b.siteId ? -1 : a.siteId > b.siteId ? 1 : 0;
    });
  const chosen = ranked[0]?.siteId;
  for (const c of candidates) {
    if (c.siteId === chosen) c.reasons.push('chosen: best position, then priority, then capacity');
    else if (c.eligible) c.reasons.push(`not chosen: ${chosen} ranks higher`);
  }
  return { chosen, candidates };
}
