/**
 * The agent's lease rules, pure: which peers count as reachable, how long a renewal may take, and
 * when a lapsed lease means the agent must fence its own primaries.
 */

/** Pure. Each peer site: heard (by its heartbeat or a witness probe) within the lease TTL before `now`. */
export function peersReachable(peerSites: readonly string[], lastHeard: ReadonlyMap<string, number>, now: number, leaseTtlMs: number): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const p of peerSites) out[p] = now - (lastHeard.get(p) ?? -Infinity) < leaseTtlMs;
  return out;
}

/**
 * Pure. When a new run counts its lease as last renewed. A run restarted inside the lease its
 * predecessor renewed counts from that renewal: counting a fresh lease from its start let a run
 * restarted while cut from NATS and its peers keep its primary up to a lease past the one the
 * coordinator holds, which it takes as lapsed (and, fenceMarginMs later, as a fence) and
 * promotes elsewhere; the successor watchdog defers to a live agent. Otherwise (first start, or
 * the old lease lapsed while no agent ran: the watchdog fenced at its deadline) from the start,
 * as a run that holds no lease yet would fence a healthy primary whenever its first flush is
 * slow. A renewal "in the future" (the clock stepped back) counts as now.
 */
export function startingLease(now: number, previousRenewal: number | undefined, leaseTtlMs: number): number {
  if (previousRenewal === undefined) return now;
  const renewed = Math.min(now, previousRenewal);
  return now - renewed < leaseTtlMs ? renewed : now;
}

/**
 * Pure. How long a heartbeat's flush may take before the round counts as not renewed. Bounded so
 * that the lease check runs on every beat (while NATS is unreachable a flush waits for a
 * reconnection), and at most a third of the lease, so a slow link still renews in time.
 */
export function renewalTimeoutMs(heartbeatMs: number, leaseTtlMs: number): number {
  return Math.max(50, Math.min(heartbeatMs, leaseTtlMs / 3));
}

/**
 * Pure. Whether an agent must fence its own primaries now: its lease lapsed unrenewed and it
 * cannot reach a majority of all the sites, itself included (it may be the cut-off side of a
 * partition, and a replica elsewhere is about to be promoted). An agent cut from NATS only,
 * whose peers still hear it, fences nothing (Patroni's failsafe mode). Once fenced, not again
 * until a command makes a copy serve again.
 */
export function mustSelfFence(s: { now: number; lastRenewedAt: number; leaseTtlMs: number; alreadySelfFenced: boolean; peers: Record<string, boolean>; peerSiteCount: number }): { fence: boolean; reachablePeers: number } {
  const reachablePeers = Object.values(s.peers).filter(Boolean).length;
  if (s.now - s.lastRenewedAt < s.leaseTtlMs || s.alreadySelfFenced) return { fence: false, reachablePeers };
  const majority = Math.floor((s.peerSiteCount + 1) / 2) + 1; // of all sites, ourselves included
  return { fence: reachablePeers + 1 < majority, reachablePeers };
}
