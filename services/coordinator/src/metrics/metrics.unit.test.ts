import { describe, expect, it } from 'vitest';
import { createMetrics, type MetricsSource } from './index';

/** Issue 18: metrics read a narrow source, so plain data stands in for a coordinator. */
describe('metrics - read only their source', () => {
  const source: MetricsSource = {
    workloadViews: () => [
      { workloadId: 'db1', state: 'protected', epoch: 3, primarySite: 'a', replicas: [{ siteId: 'a', lagSeconds: 0 }, { siteId: 'b', lagSeconds: 1.5 }], policy: { rpoSeconds: 30 } },
      { workloadId: 'db2', state: 'protected', epoch: 1, primarySite: 'b', replicas: [{ siteId: 'b' }], policy: { rpoSeconds: 5 } },
    ],
    siteViews: () => [
      { siteId: 'a', status: 'up', leaseExpiresAt: 12_000 },
      { siteId: 'b', status: 'lost' },
    ],
    isLeader: true,
  };

  it('metrics - gauges are computed from the source at scrape time', async () => {
    const text = await createMetrics(() => source, () => 10_000).registry.metrics();
    expect(text).toContain('drc_workload_epoch{workload="db1"} 3');
    expect(text).toContain('drc_workloads{state="protected"} 2');
    expect(text).toContain('drc_replication_lag_seconds{workload="db1",site="b"} 1.5');
    expect(text).not.toContain('drc_replication_lag_seconds{workload="db1",site="a"}');
    expect(text).toContain('drc_rpo_seconds{workload="db2"} 5');
    expect(text).toContain('drc_site_up{site="a"} 1');
    expect(text).toContain('drc_site_up{site="b"} 0');
    expect(text).toContain('drc_site_lease_remaining_seconds{site="a"} 2');
    expect(text).toMatch(/^drc_leader 1$/m);
  });

  it('metrics - no source yet: no workloads, not leader', async () => {
    const text = await createMetrics(() => undefined).registry.metrics();
    expect(text).not.toContain('drc_workload_epoch{');
    expect(text).toMatch(/^drc_leader 0$/m);
  });
});
