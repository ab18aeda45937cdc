import type { PlanRunView, WorkloadView } from '@drc/contracts';
import { ContinuousWriter, eventually, startPostgresPair, type PostgresPair } from '@drc/test-kit';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgDriverFor, startEstate, type Estate } from './harness';

/**
 * Issue 8: a DR drill of a recovery plan over a real PostgreSQL pair. The `test` run starts an
 * isolated, writable copy of the standby at the recovery site and checks it; `cleanup` removes
 * it. Meanwhile a client writes to production: the roles never change, the standby keeps
 * streaming with its lag bounded, and nothing the client wrote is lost.
 */
describe('plan drill over a real PostgreSQL pair', () => {
  let pair: PostgresPair;
  let estate: Estate;
  let writer: ContinuousWriter;
  const samples: WorkloadView[] = [];
  let sampling = true;
  let sampler: Promise<void> | undefined;

  const api = async <T>(path: string, init: RequestInit = {}) => {
    const res = await fetch(`${estate.apiUrl}${path}`, { ...init, headers: { 'content-type': 'application/json' } });
    return { status: res.status, body: (await res.json()) as T };
  };
  const runToEnd = async (mode: string) => {
    const started = await api<PlanRunView>('/api/v1/plans/pg-drill/runs', { method: 'POST', body: JSON.stringify({ mode }) });
    expect(started.status).toBe(202);
    return eventually(async () => {
      const v = (await api<PlanRunView>(`/api/v1/plan-runs/${started.body.runId}`)).body;
      return v.state === 'finished' ? v : undefined;
    }, 90_000, 250);
  };

  beforeAll(async () => {
    pair = await startPostgresPair('e2edrill');
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: 2000, startupGraceMs: 2000 },
        defaults: { policy: { debounceMs: 500, rpoSeconds: 5, maxDataLossSeconds: 5 } },
        sites: [{ id: 'A', priority: 1 }, { id: 'B', priority: 2 }, { id: 'C', priority: 3 }],
        workloads: [{ id: 'pgdb', kind: 'database', driver: pgDriverFor(pair, 'A', 'B'), primarySite: 'A', replicaSites: ['B'] }],
        plans: [{ name: 'pg-drill', recoverySite: 'B', tiers: [{ name: 'databases', workloads: ['pgdb'] }] }],
      },
      'pgdrill',
      { agentArgs: () => ['--heartbeat-ms', '250'] },
    );
    await eventually(async () => {
      const w = await estate.workload('pgdb');
      return w.state === 'protected' && w.replicas.find((r) => r.siteId === 'B')?.lagSeconds === 0;
    }, 60_000, 250);
    writer = new ContinuousWriter([{ host: '127.0.0.1', port: pair.primary.port }], { user: 'postgres', database: 'postgres', intervalMs: 5 });
    await writer.prepare();
    writer.start();
    sampler = (async () => {
      while (sampling) {
        samples.push(await estate.workload('pgdb'));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
  });

  afterAll(async () => {
    sampling = false;
    await sampler;
    await writer?.stop();
    await estate?.stop();
    pair?.stop();
  });

  it('test mode starts and checks an isolated copy; cleanup removes it; production never notices', async () => {
    const test = await runToEnd('test');
    expect(test.result, JSON.stringify(test.steps)).toBe('SUCCESS');
    const step = test.steps.find((s) => s.id === 't1.pgdb')!;
    expect(step.output).toMatchObject({ check: 'passed', drill: 'running' });
    const port = Number(step.output!.port);
    // The copy is isolated and writable; production does not see what is written there.
    const copy = postgres({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1, onnotice: () => {} });
    await copy`INSERT INTO bench_writes DEFAULT VALUES`;
    const [row] = await copy<Array<{ n: number }>>`SELECT pg_is_in_recovery()::int AS n`;
    expect(row?.n).toBe(0);
    await copy.end();
    expect((await estate.workload('pgdb')).drill).toBe('running');

    const cleanup = await runToEnd('cleanup');
    expect(cleanup.result, JSON.stringify(cleanup.steps)).toBe('SUCCESS');
    await expect(postgres({ host: '127.0.0.1', port, user: 'postgres', max: 1, connect_timeout: 1 })`SELECT 1`).rejects.toThrow();
    expect((await estate.workload('pgdb')).drill).toBe('idle');

    // Production: roles never changed, the standby kept up, nothing acknowledged was lost.
    sampling = false;
    await sampler;
    expect(samples.length).toBeGreaterThanOrEqual(3);
    for (const s of samples) {
      expect(s.primarySite).toBe('A');
      expect(s.epoch).toBe(0);
      expect(s.replicas.find((r) => r.siteId === 'B')?.role).toBe('replica');
      expect(s.replicas.find((r) => r.siteId === 'B')?.lagSeconds ?? 0).toBeLessThanOrEqual(5);
    }
    const [r] = await pair.standby.sql<{ status: string }>('SELECT status FROM pg_stat_wal_receiver');
    expect(r?.status).toBe('streaming');
    expect(await writer.lost()).toBe(0);
    expect(writer.acked.length).toBeGreaterThan(100);
  });
});
