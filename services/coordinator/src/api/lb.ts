import { Hono } from 'hono';
import type { Coordinator } from '../coordinator';

/**
 * Load-balancer checks (HAProxy `option httpchk`, F5 monitors): 200 only on the site that holds
 * the workload's primary role now, as the copy there last reported, with no fence pending or done
 * for it; 503 anywhere else, while the workload is mid-failover (the old primary may be fenced),
 * for a site with a fence sent and unanswered or confirmed whatever the state (`escalated` after a
 * fence timed out or a promotion failed leaves the old primary as primarySite), when the workload
 * is unknown, or on a standby coordinator (its view is not authoritative). Unauthenticated on
 * purpose: load balancers cannot carry bearer tokens and the answer reveals only a yes/no. Tiny
 * plain-text bodies.
 */
export function createLbRoutes(coordinator: Coordinator): Hono {
  const app = new Hono();
  app.get('/workloads/:id/primary/:site', (c) => {
    c.header('cache-control', 'no-store');
    if (!coordinator.isLeader) return c.text('standby coordinator\n', 503);
    const view = coordinator.workloadView(c.req.param('id'));
    if (!view) return c.text('unknown workload\n', 503);
    const site = c.req.param('site');
    if (isMovingPrimary(view.state)) return c.text(`moving (${view.state})\n`, 503);
    if (view.primarySite !== site) return c.text('not primary\n', 503);
    if (view.fencing?.includes(site)) return c.text(`fence pending or done (${view.state})\n`, 503);
    const copy = view.replicas.find((r) => r.siteId === site);
    if (copy?.role !== 'primary') return c.text(`${copy?.role ?? 'no copy'}\n`, 503);
    return c.text('primary\n', 200);
  });
  return app;
}

/**
 * Pure. True while the primary role is in flux: no site should take writes from the load balancer.
 * A failover still choosing or waiting for a replica has touched nothing (no fence is sent before
 * a candidate is chosen), so the primary keeps serving then: 503 there would be an outage that
 * doing nothing would not have caused.
 */
export function isMovingPrimary(state: string): boolean {
  if (/^failingOver\.(selectingReplica|awaitingReplica)$/.test(state)) return false;
  return /failingOver|switchingOver|failingBack|fencing|promoting|redirecting|verifying/.test(state);
}
