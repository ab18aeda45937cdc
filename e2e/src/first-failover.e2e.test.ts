import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createPostgresEventStore } from '@drc/event-store';
import { Projector } from '@drc/projections';
import { eventually } from '@drc/test-kit';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startEstate, type Estate } from './harness';

/**
 * Issue 2's walking skeleton: real nats-server, PostgreSQL, a coordinator and three agents as
 * processes. The agent of a workload's primary site dies; the workload must fail over to a
 * replica site, with the decisions recorded in order.
 */
describe('first failover end to end', () => {
  let estate: Estate;

  beforeAll(async () => {
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: 2000, startupGraceMs: 2000 },
        defaults: { policy: { debounceMs: 500, fenceMarginMs: 300, rpoSeconds: 10, maxDataLossSeconds: 10 } },
        sites: [
          { id: 'A', priority: 1 },
          { id: 'B', priority: 2 },
          { id: 'C', priority: 3 },
        ],
        workloads: [
          { id: 'orders', driver: 'sim', primarySite: 'A', replicaSites: ['B', 'C'] },
          { id: 'billing', driver: 'sim', primarySite: 'A', replicaSites: ['C'] },
          { id: 'search', driver: 'sim', primarySite: 'B', replicaSites: ['A'] },
        ],
      },
      'first',
    );
  });

  afterAll(async () => {
    await estate?.stop();
  });

  it('moves the workloads of a lost site to a replica site, recording every decision in order', async () => {
    await eventually(async () => (await estate.sites()).every((s) => s.status === 'up'), 30_000);
    expect((await estate.workload('orders')).state).toBe('protected');

    await estate.agents.get('A')!.kill(); // the datacenter goes dark

    const orders = await eventually(async () => {
      const w = await estate.workload('orders');
      return w.state === 'failedOver' ? w : undefined;
    }, 45_000);
    expect(orders.primarySite).not.toBe('A');
    expect(['B', 'C']).toContain(orders.primarySite);
    expect(orders.epoch).toBe(1);
    const billing = await eventually(async () => {
      const w = await estate.workload('billing');
      return w.state === 'failedOver' ? w : undefined;
    }, 30_000);
    expect(billing.primarySite).toBe('C');
    // A workload whose primary is elsewhere does not move.
    const search = await estate.workload('search');
    expect(search.primarySite).toBe('B');
    expect(search.epoch, JSON.stringify((await estate.events("search")).map((e) => [e.type, (e.data as { command?: { action?: string } }).command?.action ?? (e.data as { to?: string }).to ?? ""]))).toBe(0);

    const events = await estate.events('orders');
    const types = events.map((e) => e.type);
    const commandOf = (action: string) =>
      events.findIndex((e) => e.type === 'CommandIssued' && (e.data.command as { action?: string } | undefined)?.action === action);
    const order = [
      types.indexOf('PrimaryFailureObserved'),
      types.indexOf('FailoverStarted'),
      commandOf('fence'),
      types.indexOf('FenceConfirmed'),
      commandOf('promote'),
      types.indexOf('PromoteConfirmed'),
      types.indexOf('FailoverCompleted'),
    ];
    expect(order.every((i) => i >= 0), `missing decision events in ${types.join(', ')}`).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // Positions are gapless and every event carries the writer's metadata.
    expect(events.map((e) => e.position)).toEqual(events.map((_, i) => i + 1));
    for (const e of events) expect(e.metadata.coordinatorId).toBe('first-coordinator');
  });

  it('issue 9: the read models the coordinator keeps equal a rebuild from zero (drc projections rebuild), row for row', async () => {
    const sql = postgres(estate.db.url, { max: 1, onnotice: () => {} });
    const store = createPostgresEventStore({ url: estate.db.url, maxConnections: 1 });
    const live = new Projector({ url: estate.db.url, store });
    const check = new Projector({ url: estate.db.url, store, schema: 'drc_read_check' });
    try {
      // The coordinator's projection has followed every workload event recorded so far.
      const followed = await eventually(async () => {
        const [{ n }] = (await sql`SELECT count(*)::int AS n FROM drc_events WHERE starts_with(stream, 'workload-')`) as unknown as [{ n: number }];
        const s = await live.status();
        return s.eventsApplied === n && s.eventsApplied > 0 && s;
      }, 20_000, 100);
      expect(followed.failovers).toBeGreaterThanOrEqual(2); // orders and billing
      // Freeze the log (nothing appends any more), and let the live projection take the last events.
      await Promise.all([estate.coordinator.stop(), ...[...estate.agents.values()].map((a) => a.stop())]);
      await live.catchUp();
      const applied = await live.status();
      const out = execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'services/cli/src/main.ts'), 'projections', 'rebuild', '--schema', 'drc_read_check', '--json'], {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: estate.db.url },
        encoding: 'utf8',
      });
      expect(JSON.parse(out)).toMatchObject({ schema: 'drc_read_check', rebuiltEvents: applied.eventsApplied, workloads: 3 });
      const [a, b] = [await live.rows(), await check.rows()];
      expect(b).toEqual(a);
      expect(a.workloads.find((w) => w.workloadId === 'orders')).toMatchObject({ state: 'failedOver', epoch: 1 });
    } finally {
      await Promise.all([live.close(), check.close()]);
      await store.close();
      await sql.end();
    }
  });

});
