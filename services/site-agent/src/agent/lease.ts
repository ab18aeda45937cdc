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
