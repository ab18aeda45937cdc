import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PlanRunView } from '@drc/contracts';
import { eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startEstate, type Estate } from './harness';

/**
 * Issue 8: a 3-tier recovery plan over simulated workloads, run by real processes (nats-server,
 * PostgreSQL, a coordinator, three agents). The coordinator is killed (SIGKILL) while tier 2
 * is moving; after its restart the run goes on from where it was and no step runs twice.
 */
describe('recovery plan: tiers, dependency, approval, report, and a coordinator crash mid-run', () => {
  let estate: Estate;
  let hookLog: string;
  type RunEvent = { position: number; type: string; data: Record<string, unknown> };

  const api = async <T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T; text: string }> => {
    const l = (await estate.leader()) ?? estate.coordinators[0]!;
    const res = await fetch(`http://127.0.0.1:${l.port}${path}`, { ...init, headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) } });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body: body as T, text };
  };
  const run = async (id: string) => (await api<PlanRunView>(`/api/v1/plan-runs/${id}`)).body;
  const runEvents = async (id: string) => (await api<{ events: RunEvent[] }>(`/api/v1/plan-runs/${id}/events`)).body.events;

  beforeAll(async () => {
    hookLog = join(mkdtempSync(join(tmpdir(), 'drc-plan-hooks-')), 'hooks.log');
    writeFileSync(hookLog, '');
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: 2000, startupGraceMs: 1500, leaderTtlMs: 2000 },
        defaults: { policy: { debounceMs: 300, rpoSeconds: 10, maxDataLossSeconds: 10 } },
        sites: [{ id: 'A', priority: 1 }, { id: 'B', priority: 2 }, { id: 'C', priority: 3 }],
        workloads: [
          // A planned move waits for zero lag; the simulator's lag is a constant, so these replicate synchronously.
          { id: 'db1', group: 'dbs', driver: { type: 'sim', settings: { lagSeconds: 0 } }, primarySite: 'A', replicaSites: ['B'] },
          { id: 'db2', group: 'dbs', driver: { type: 'sim', settings: { lagSeconds: 0 } }, primarySite: 'A', replicaSites: ['B'] },
          // Slow moves, so the crash lands in the middle of tier 2.
          { id: 'app1', driver: { type: 'sim', settings: { lagSeconds: 0, actionDelayMs: 1500 } }, primarySite: 'A', replicaSites: ['B'] },
          { id: 'app2', driver: { type: 'sim', settings: { lagSeconds: 0, actionDelayMs: 300 } }, primarySite: 'A', replicaSites: ['B'] },
          { id: 'web', driver: { type: 'sim', settings: { lagSeconds: 0 } }, primarySite: 'A', replicaSites: ['C', 'B'] },
          // Moved by a plan bound to the loss of site C, not by itself.
          { id: 'cache', driver: 'sim', primarySite: 'C', replicaSites: ['B'], policy: { failoverMode: 'manual' } },
        ],
        plans: [
          {
            name: 'a-to-b',
            description: 'move site A to site B',
            recoverySite: 'B',
            tiers: [
              { name: 'data', groups: ['dbs'], before: [{ hook: { name: 'storage remap', command: ['sh', '-c', 'echo "$DRC_STEP#$DRC_ATTEMPT" >> "$HOOK_LOG"; echo \'{"luns":"remapped"}\''] } }] },
              { name: 'apps', workloads: ['app1', { id: 'app2', after: ['app1'], post: { command: ['sh', '-c', 'echo "$DRC_STEP#$DRC_ATTEMPT" >> "$HOOK_LOG"'] } }] },
              { name: 'edge', before: [{ approval: { message: 'switch public DNS to B?' } }], workloads: ['web'] },
            ],
          },
          { name: 'c-loss', trigger: { siteLost: 'C', start: 'approval' }, tiers: [{ name: 'all', workloads: ['cache'] }] },
        ],
      },
      'plan',
      // The hooks run on the coordinator host and append to this log.
      { env: { HOOK_LOG: hookLog } },
    );
    await eventually(async () => (await estate.sites()).every((s) => s.status === 'up'), 30_000);
  });

  afterAll(async () => {
    await estate?.stop();
  });

  it('runs tier by tier, honours the dependency, survives a coordinator kill mid-tier, waits for approval, and reports', async () => {
    const bad = await api<{ error: { message: string } }>('/api/v1/plans/a-to-b/runs', { method: 'POST', body: JSON.stringify({ mode: 'sideways' }) });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^mode: /);
    expect((await api('/api/v1/plan-runs')).body).toEqual({ runs: [] }); // a bad request changes nothing

    const started = await api<PlanRunView>('/api/v1/plans/a-to-b/runs', { method: 'POST', headers: { 'idempotency-key': 'k1' }, body: JSON.stringify({ mode: 'migrate', reason: 'e2e' }) });
    expect(started.status).toBe(202);
    const runId = started.body.runId;
    // Same key, same run.
    expect((await api<PlanRunView>('/api/v1/plans/a-to-b/runs', { method: 'POST', headers: { 'idempotency-key': 'k1' }, body: JSON.stringify({ mode: 'migrate' }) })).body.runId).toBe(runId);

    // Tier 2's first move is under way: kill the coordinator (no clean shutdown).
    await eventually(async () => (await run(runId)).steps.find((s) => s.id === 't2.app1')?.status === 'running', 60_000, 100);
    await estate.coordinator.kill();
    await estate.startCoordinator(estate.coordinators[0]!.id, estate.coordinators[0]!.port);

    // The run goes on after the restart, and stops at the approval before tier 3.
    const waiting = await eventually(async () => {
      const v = await run(runId).catch(() => undefined);
      return v?.steps.find((s) => s.id === 't3.before.1')?.status === 'awaitingApproval' ? v : undefined;
    }, 120_000, 250);
    expect(waiting.steps.find((s) => s.id === 't3.web')?.status).toBe('pending');
    await new Promise((r) => setTimeout(r, 1000));
    expect((await run(runId)).steps.find((s) => s.id === 't3.web')?.status, 'tier 3 must not start before the approval').toBe('pending');
    expect((await estate.workload('web')).primarySite).toBe('A');

    // Approving something that is not waiting is refused (409) and changes nothing.
    const wrong = await api<{ error: { code: string } }>(`/api/v1/plan-runs/${runId}/approve`, { method: 'POST', body: JSON.stringify({ step: 't3.web' }) });
    expect(wrong.status).toBe(409);
    const ok = await api<PlanRunView>(`/api/v1/plan-runs/${runId}/approve`, { method: 'POST', body: JSON.stringify({ step: 't3.before.1' }) });
    expect(ok.status).toBe(200);

    const done = await eventually(async () => {
      const v = await run(runId);
      return v.state === 'finished' ? v : undefined;
    }, 60_000, 250);
    expect(done.result, JSON.stringify(done.steps.map((s) => [s.id, s.status, s.reason]))).toBe('SUCCESS');
    for (const id of ['db1', 'db2', 'app1', 'app2']) expect((await estate.workload(id)).primarySite).toBe('B');
    expect((await estate.workload('web')).primarySite).toBe('B');

    // Tier order and the dependency, from the recorded stream.
    const events = await runEvents(runId);
    const at = (type: string, step: string) => events.find((e) => e.type === type && e.data.stepId === step)?.position ?? -1;
    const lastEnd = (prefix: string) => Math.max(...events.filter((e) => e.type === 'StepCompleted' && String(e.data.stepId).startsWith(prefix)).map((e) => e.position));
    const firstStart = (prefix: string) => Math.min(...events.filter((e) => (e.type === 'StepStarted' || e.type === 'StepAwaitingApproval') && String(e.data.stepId).startsWith(prefix)).map((e) => e.position));
    expect(lastEnd('t1.')).toBeLessThan(firstStart('t2.'));
    expect(lastEnd('t2.')).toBeLessThan(firstStart('t3.'));
    expect(at('StepCompleted', 't2.app1')).toBeLessThan(at('StepStarted', 't2.app2'));
    expect(at('StepApproved', 't3.before.1')).toBeLessThan(at('StepStarted', 't3.web'));
    // The crash is in the record: two writers (leader epochs) appended to this run.
    expect(new Set(events.map((e) => (e as unknown as { metadata: { leaderEpoch: number } }).metadata.leaderEpoch)).size).toBeGreaterThanOrEqual(2);

    // No step ran twice: one start per step, one command per workload, hooks once each.
    const starts = events.filter((e) => e.type === 'StepStarted').map((e) => String(e.data.stepId));
    expect(starts.length).toBe(new Set(starts).size);
    for (const id of ['db1', 'db2', 'app1', 'app2', 'web']) {
      const wevents = await estate.events(id);
      const asked = wevents.filter((e) => e.type === 'OperatorCommandReceived' && String(e.data.requestId).startsWith(`plan:${runId}:`));
      expect(asked.length, `${id} was asked ${asked.length} times`).toBe(1);
      expect(wevents.filter((e) => e.type === 'FailoverStarted').length).toBe(1);
    }
    expect(readFileSync(hookLog, 'utf8').trim().split('\n').sort()).toEqual(['t1.before.1#0', 't2.app2.post#0']);

    // The report: per workload RTO, per step durations, the result.
    const md = await api<string>(`/api/v1/plan-runs/${runId}/report?format=md`);
    expect(md.text).toContain('**Result: SUCCESS**');
    expect(md.text).toMatch(/\| app1 \| done \| A \| B \| \d+\.\d s \|/);
    expect(md.text).toContain('storage remap');
    const json = (await api<{ workloads: Array<{ workloadId: string; rtoMs: number | null }> }>(`/api/v1/plan-runs/${runId}/report`)).body;
    expect(json.workloads.map((w) => w.workloadId)).toEqual(['db1', 'db2', 'app1', 'app2', 'web']);
    for (const w of json.workloads) expect(w.rtoMs).toBeGreaterThan(0);

    // The same through the drc CLI, as an operator would.
    const drc = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'services/cli/src/main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', DRC_API_URL: estate.apiUrl }, timeout: 60_000 });
    const list = drc(['plan', 'list']);
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/a-to-b\s+data → apps → edge\s+B/);
    const status = drc(['plan', 'status', runId]);
    expect(status.status).toBe(0);
    expect(status.stdout).toContain('SUCCESS');
    expect(status.stdout).toMatch(/t2\.app2\s+switchover app2 → B\s+done/);
    const report = drc(['plan', 'report', runId, '--format', 'md']);
    expect(report.stdout).toContain('**Result: SUCCESS**');
    const again = drc(['plan', 'approve', runId, 't3.before.1']);
    expect(again.status).toBe(1); // not awaiting approval any more: refused, changes nothing
    expect(again.stderr).toMatch(/409|not awaiting approval/);
    expect(drc(['plan', 'run', 'a-to-b']).status).toBe(2); // --mode is mandatory
  });

  it('a plan bound to a site loss starts by itself when the site is lost, and waits for approval first', async () => {
    await estate.agents.get('C')!.kill(); // site C goes dark
    const triggered = await eventually(async () => {
      const runs = (await api<{ runs: PlanRunView[] }>('/api/v1/plan-runs')).body.runs;
      return runs.find((r) => r.plan === 'c-loss');
    }, 60_000, 250);
    expect(triggered).toMatchObject({ mode: 'failover', actor: { kind: 'coordinator' }, reason: 'site C was declared lost' });
    expect(triggered.steps.find((s) => s.id === 'start')?.status).toBe('awaitingApproval');
    expect((await estate.workload('cache')).primarySite).toBe('C'); // manual mode: nothing moves on its own
    await api(`/api/v1/plan-runs/${triggered.runId}/approve`, { method: 'POST', body: JSON.stringify({ step: 'start' }) });
    const done = await eventually(async () => {
      const v = await run(triggered.runId);
      return v.state === 'finished' ? v : undefined;
    }, 60_000, 250);
    expect(done.result, JSON.stringify(done.steps.map((s) => [s.id, s.status, s.reason]))).toBe('SUCCESS');
    expect((await estate.workload('cache')).primarySite).toBe('B');
    // One loss, one run.
    expect((await api<{ runs: PlanRunView[] }>('/api/v1/plan-runs')).body.runs.filter((r) => r.plan === 'c-loss')).toHaveLength(1);
  });
});
