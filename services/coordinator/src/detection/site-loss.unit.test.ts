import { DEFAULT_POLICY, type WorkloadView } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { siteTransitionInputs } from './site-loss';
import type { SiteTransition } from './site-tracker';

const view = (over: Partial<WorkloadView> = {}): WorkloadView => ({
  workloadId: 'w',
  state: 'protected',
  drill: 'idle',
  epoch: 1,
  primarySite: 'A',
  replicas: [
    { siteId: 'A', role: 'primary', healthy: true, priority: 1 },
    { siteId: 'B', role: 'replica', healthy: true, priority: 2 },
  ],
  policy: DEFAULT_POLICY,
  ...over,
});
const lost = (siteId: string): SiteTransition => ({ siteId, from: 'up', to: 'lost', at: 5000, evidence: ['lease expired'], leaseExpiredAt: 4000 });

describe('site loss - what a site transition means for one workload (pure)', () => {
  it('the primary site lost: SITE_STATUS lost, then PRIMARY_FAILED with the lease expiry', () => {
    const r = siteTransitionInputs(lost('A'), view(), false);
    expect(r?.site).toMatchObject({ type: 'SITE_STATUS', siteId: 'A', status: 'lost', leaseExpiredAt: 4000 });
    expect(r?.primaryFailed).toMatchObject({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'siteLost', leaseExpiredAt: 4000 });
  });

  it('a replica site lost or back: only SITE_STATUS; a site without a copy or a suspect site: nothing', () => {
    expect(siteTransitionInputs(lost('B'), view(), false)).toEqual({ site: expect.objectContaining({ siteId: 'B', status: 'lost' }) });
    expect(siteTransitionInputs({ siteId: 'B', from: 'lost', to: 'up', at: 6000, evidence: [] }, view(), false)?.site).toMatchObject({ status: 'up' });
    expect(siteTransitionInputs(lost('C'), view(), false)).toBeUndefined();
    expect(siteTransitionInputs({ siteId: 'A', from: 'up', to: 'suspect', at: 6000, evidence: [] } as SiteTransition, view(), false)).toBeUndefined();
  });

  it('on takeover, only workloads whose primary is at the lost site and which have not acted yet', () => {
    expect(siteTransitionInputs(lost('B'), view(), true)).toBeUndefined();
    expect(siteTransitionInputs(lost('A'), view({ state: 'failingOver.fencing' }), true)).toBeUndefined();
    expect(siteTransitionInputs(lost('A'), view({ state: 'degraded' }), true)?.primaryFailed).toBeDefined();
  });
});
