import type { WorkloadInput, WorkloadView } from '@drc/contracts';
import type { SiteTransition } from './site-tracker';

/** What a site's change of status means for one workload. */
export interface SiteTransitionInputs {
  /** SITE_STATUS: the site is lost, or back up. */
  site: WorkloadInput;
  /**
   * PRIMARY_FAILED, when the lost site holds the workload's primary. The caller marks the primary
   * down in its observation tracker (so a report from it within the debounce is PRIMARY_RECOVERED)
   * and feeds the other copies' fresh facts before it, so the decision sees the freshest replicas.
   */
  primaryFailed?: WorkloadInput;
}

/** Pure. Whether a site transition is one workloads hear of (lost, or back from lost). */
export function siteTransitionMatters(t: SiteTransition): boolean {
  return t.to === 'lost' || (t.from === 'lost' && t.to === 'up');
}

/**
 * Pure. The inputs a site transition gives one workload, or undefined when it has nothing to do
 * with it: no copy at the site, or (`takeover`: sites already lost when this coordinator took the
 * lead) its primary is elsewhere or it is not protected/degraded (the previous leader acted).
 */
export function siteTransitionInputs(t: SiteTransition, view: WorkloadView, takeover: boolean): SiteTransitionInputs | undefined {
  if (!siteTransitionMatters(t)) return undefined;
  const becameLost = t.to === 'lost';
  if (!view.replicas.some((r) => r.siteId === t.siteId)) return undefined;
  if (takeover && (view.primarySite !== t.siteId || (view.state !== 'protected' && view.state !== 'degraded'))) return undefined;
  const lease = t.leaseExpiredAt !== undefined ? { leaseExpiredAt: t.leaseExpiredAt } : {};
  const site: WorkloadInput = { type: 'SITE_STATUS', at: t.at, siteId: t.siteId, status: becameLost ? 'lost' : 'up', evidence: t.evidence, ...lease };
  if (!(becameLost && view.primarySite === t.siteId)) return { site };
  return { site, primaryFailed: { type: 'PRIMARY_FAILED', at: t.at, siteId: t.siteId, reason: 'siteLost', evidence: t.evidence, ...lease } };
}
