import { PlanConfigSchema, type PlanDecision, type PlanRunInput, type PlanRunSetup } from '@drc/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePlan } from './compile';
import { decidePlanRun, startPlanRun, viewPlanRun, type PlanRunSnapshot } from './machine';

const workloads = [
  { id: 'db1', group: 'dbs', primarySite: 'A', replicaSites: ['B'] },
  { id: 'db2', group: 'dbs', primarySite: 'A', replicaSites: ['B'] },
  { id: 'app1', primarySite: 'A', replicaSites: ['B'] },
  { id: 'app2', primarySite: 'A', replicaSites: ['B'] },
  { id: 'web', primarySite: 'A', replicaSites: ['B'] },
];
const plan = PlanConfigSchema.parse({
  name: 'site-a-loss',
  recoverySite: 'B',
  concurrency: 1,
  tiers: [
    { name: 'databases', groups: ['dbs'], before: [{ hook: { name: 'storage', command: ['true'] } }] },
    { name: 'apps', workloads: ['app1', { id: 'app2', after: ['app1'], pre: { command: ['check'] }, post: { command: ['notify'] } }], concurrency: 2, after: [{ waitFor: { replicaLagBelowSeconds: 5 } }] },
    { name: 'edge', workloads: ['web'], before: [{ approval: { message: 'switch DNS?' } }] },
  ],
});
const actor = { kind: 'operator' as const, id: 'alice' };
const setupFor = (mode: PlanRunSetup['mode'] = 'failover'): PlanRunSetup => {
  const c = compilePlan(plan, mode, workloads);
  return { runId: 'r1', plan: plan.name, mode, at: 1000, actor, concurrency: c.concurrency, steps: c.steps };
};

describe('recovery plans - compile', () => {
  it('orders tiers, expands groups, maps the mode to a workload command, and chains hooks', () => {
    const { steps, concurrency } = compilePlan(plan, 'migrate', workloads);
    expect(steps.map((s) => s.id)).toEqual(['t1.before.1', 't1.db1', 't1.db2', 't2.app1', 't2.app2.pre', 't2.app2', 't2.app2.post', 't2.after.1', 't3.before.1', 't3.web']);
    expect(steps.find((s) => s.id === 't1.db1')).toMatchObject({ command: 'switchover', targetSite: 'B', after: ['t1.before.1'] });
    expect(steps.find((s) => s.id === 't2.app2')?.after).toEqual(['t2.app2.pre', 't2.app1']);
    expect(steps.find((s) => s.id === 't2.app1')?.barrier).toEqual(['t1.before.1', 't1.db1', 't1.db2']);
    expect(steps.find((s) => s.id === 't2.after.1')?.waitFor?.workloads).toEqual(['app1', 'app2']);
    expect(concurrency).toEqual({ tier1: 1, tier2: 2, tier3: 1 });
    expect(compilePlan(plan, 'test', workloads).steps.find((s) => s.id === 't1.db1')?.command).toBe('drillStart');
  });
});

/** Feeds inputs, returning every decision and the final snapshot. */
function run(inputs: PlanRunInput[], setup = setupFor()): { snapshot: PlanRunSnapshot; decisions: PlanDecision[] } {
  let { snapshot, decisions } = startPlanRun(setup);
  const all = [...decisions];
  for (const i of inputs) {
    ({ snapshot, decisions } = decidePlanRun(snapshot, i));
    all.push(...decisions);
  }
  return { snapshot, decisions: all };
}
const started = (ds: PlanDecision[]) => ds.flatMap((d) => (d.type === 'StepStarted' ? [d.stepId] : []));
const ok = (stepId: string, at = 2000, attempt = 0): PlanRunInput => ({ type: 'STEP_RESULT', at, stepId, attempt, status: 'done' });
const fail = (stepId: string, at = 2000, attempt = 0): PlanRunInput => ({ type: 'STEP_RESULT', at, stepId, attempt, status: 'failed', reason: 'boom' });

describe('recovery plans - a run', () => {
  it('runs tier by tier, one workload at a time where the concurrency is 1, and waits for approval', () => {
    const r = run([ok('t1.before.1'), ok('t1.db1'), ok('t1.db2'), ok('t2.app1'), ok('t2.app2.pre'), ok('t2.app2'), ok('t2.app2.post'), ok('t2.after.1')]);
    expect(started(r.decisions)).toEqual(['t1.before.1', 't1.db1', 't1.db2', 't2.app1', 't2.app2.pre', 't2.app2', 't2.app2.post', 't2.after.1']);
    expect(r.decisions.at(-1)).toEqual({ type: 'StepAwaitingApproval', stepId: 't3.before.1', message: 'switch DNS?' });
    const approved = decidePlanRun(r.snapshot, { type: 'STEP_APPROVE', at: 3000, stepId: 't3.before.1', actor });
    expect(started(approved.decisions)).toEqual(['t3.web']);
    const done = decidePlanRun(approved.snapshot, ok('t3.web', 4000));
    expect(done.decisions.at(-1)).toEqual({ type: 'PlanRunFinished', result: 'SUCCESS' });
    expect(viewPlanRun(done.snapshot)).toMatchObject({ state: 'finished', result: 'SUCCESS', endedAt: 4000 });
  });

  it('a failing pre-hook aborts only that workload; the next tier still starts; a retry re-runs the skipped move', () => {
    const r = run([ok('t1.before.1'), ok('t1.db1'), ok('t1.db2'), ok('t2.app1'), fail('t2.app2.pre')]);
    const v = viewPlanRun(r.snapshot);
    expect(v.steps.find((s) => s.id === 't2.app2')).toMatchObject({ status: 'skipped', reason: 'pre-hook of app2 failed' });
    // after-steps wait for the tier to end, then the next tier's approval comes up.
    expect(started(r.decisions)).toContain('t2.after.1');
    const retry = decidePlanRun(r.snapshot, { type: 'STEP_RETRY', at: 3000, stepId: 't2.app2.pre', actor });
    expect(retry.decisions[0]).toMatchObject({ type: 'StepRetried', stepId: 't2.app2.pre', attempt: 1, reset: ['t2.app2', 't2.app2.post'] });
    expect(started(retry.decisions)).toEqual(['t2.app2.pre']);
  });

  it('rejects a result for a step that is not running, and an approval of a step not awaiting one, changing nothing', () => {
    const r = run([ok('t1.db1')]);
    expect(r.decisions.at(-1)).toMatchObject({ type: 'PlanInputRejected', input: 'STEP_RESULT' });
    const a = decidePlanRun(r.snapshot, { type: 'STEP_APPROVE', at: 3000, stepId: 't3.before.1', actor });
    expect(a.decisions).toEqual([{ type: 'PlanInputRejected', input: 'STEP_APPROVE', reason: 'step t3.before.1 is not awaiting approval (pending)' }]);
    expect(a.snapshot.context.steps).toEqual(r.snapshot.context.steps);
  });

  it('pause holds new steps; cancel lets running steps end and finishes CANCELLED', () => {
    const paused = run([{ type: 'RUN_PAUSE', at: 1500, actor }, ok('t1.before.1')]);
    expect(started(paused.decisions)).toEqual(['t1.before.1']);
    const resumed = decidePlanRun(paused.snapshot, { type: 'RUN_RESUME', at: 1600, actor });
    expect(started(resumed.decisions)).toEqual(['t1.db1']);
    const cancelling = decidePlanRun(resumed.snapshot, { type: 'RUN_CANCEL', at: 1700, actor });
    expect(viewPlanRun(cancelling.snapshot).state).toBe('cancelling');
    const end = decidePlanRun(cancelling.snapshot, ok('t1.db1', 1800));
    expect(end.decisions.at(-1)).toEqual({ type: 'PlanRunFinished', result: 'CANCELLED' });
    expect(viewPlanRun(end.snapshot).steps.filter((s) => s.status === 'cancelled').length).toBe(8);
  });
});

describe('recovery plans - properties over any sequence of results, approvals, retries, pauses and cancels', () => {
  const setup = setupFor();
  const ids = setup.steps.map((s) => s.id);
  const inputArb = fc.oneof(
    fc.record({ type: fc.constant('STEP_RESULT' as const), stepId: fc.constantFrom(...ids), attempt: fc.integer({ min: 0, max: 2 }), status: fc.constantFrom('done' as const, 'failed' as const) }),
    fc.record({ type: fc.constant('STEP_APPROVE' as const), stepId: fc.constantFrom(...ids) }),
    fc.record({ type: fc.constant('STEP_RETRY' as const), stepId: fc.constantFrom(...ids) }),
    fc.record({ type: fc.constantFrom('RUN_PAUSE' as const, 'RUN_RESUME' as const, 'RUN_CANCEL' as const) }),
  );
  it('never starts a step before its barrier ended and its dependencies succeeded, never exceeds a tier’s concurrency, and starts each attempt once', () => {
    fc.assert(
      fc.property(fc.array(inputArb, { maxLength: 60 }), (raw) => {
        let { snapshot, decisions } = startPlanRun(setup);
        const seen = new Set<string>();
        const check = (snap: PlanRunSnapshot, ds: PlanDecision[], before: PlanRunSnapshot | undefined) => {
          for (const d of ds) {
            if (d.type !== 'StepStarted') continue;
            const key = `${d.stepId}#${d.attempt}`;
            expect(seen.has(key), `${key} started twice`).toBe(false);
            seen.add(key);
            const step = setup.steps.find((s) => s.id === d.stepId)!;
            const ctx = snap.context;
            for (const b of step.barrier) expect(['done', 'failed', 'skipped', 'cancelled']).toContain(ctx.steps[b]!.status);
            for (const a of step.after) expect(ctx.steps[a]!.status).toBe('done');
            if (before) expect(before.value === 'running' || before.value === 'paused' || before.value === 'finished').toBe(true);
          }
          for (const [group, limit] of Object.entries(setup.concurrency)) {
            const n = setup.steps.filter((s) => s.slotGroup === group && snap.context.steps[s.id]!.status === 'running').length;
            expect(n).toBeLessThanOrEqual(limit);
          }
          const finished = ds.filter((d) => d.type === 'PlanRunFinished').length;
          if (finished) expect(Object.values(snap.context.steps).every((s) => !['pending', 'running', 'awaitingApproval'].includes(s.status))).toBe(true);
        };
        check(snapshot, decisions, undefined);
        let at = 1001;
        for (const r of raw) {
          const input = { ...r, at: at++, ...('stepId' in r || r.type.startsWith('RUN') ? { actor } : {}) } as PlanRunInput;
          if (input.type === 'STEP_RESULT') delete (input as { actor?: unknown }).actor;
          const prev = snapshot;
          ({ snapshot, decisions } = decidePlanRun(snapshot, input));
          check(snapshot, decisions, prev);
        }
      }),
      { numRuns: Number(process.env.DRC_PROPERTY_RUNS ?? 300) },
    );
  });
});
