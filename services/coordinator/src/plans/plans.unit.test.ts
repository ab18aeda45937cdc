import { PlanConfigSchema, type Decision, type PlanRunSetup, type WorkloadView } from '@drc/contracts';
import { planEventsForInput, planRunOpeningEvents, foldPlanRunStream } from '@drc/history';
import { compilePlan, decidePlanRun, startPlanRun, viewPlanRun } from '@drc/statecharts';
import { describe, expect, it } from 'vitest';
import { planRunReportMarkdown, buildPlanRunReport } from './report';
import { alreadyThere, workloadStepOutcome } from './workload-step';

const input = { type: 'OPERATOR_COMMAND', at: 1, command: 'failover', actor: { kind: 'operator', id: 'a' }, requestId: 'x' } as const;
const completed: Decision = { type: 'FailoverCompleted', fromSite: 'A', toSite: 'B', epoch: 2, startedAt: 1, rtoMs: 900, dataLossSeconds: 0.2 };

describe('plan workload steps', () => {
  it('ends a move on FailoverCompleted, fails it on an abort or an escalation, and ignores the rest', () => {
    expect(workloadStepOutcome('switchover', input, [completed])).toEqual({ status: 'done', output: { fromSite: 'A', toSite: 'B', epoch: 2, rtoMs: 900, dataLossSeconds: 0.2 } });
    expect(workloadStepOutcome('failover', input, [{ type: 'Escalated', reason: 'no ack', step: 'foFencing' }])).toEqual({ status: 'failed', reason: 'escalated at foFencing: no ack' });
    expect(workloadStepOutcome('failover', input, [{ type: 'FailoverStarted', mode: 'unplanned', fromSite: 'A', reason: 'r', evidence: [] }])).toBeUndefined();
    expect(workloadStepOutcome('reprotect', input, [completed])).toBeUndefined();
    const drillDone = { type: 'COMMAND_RESULT', at: 2, commandId: 'c', siteId: 'B', action: 'drillStart', epoch: 0, status: 'done', detail: { check: 'passed' } } as const;
    expect(workloadStepOutcome('drillStart', drillDone, [])).toEqual({ status: 'done', output: { siteId: 'B', check: 'passed' } });
    expect(workloadStepOutcome('drillCleanup', input, [{ type: 'DrillCompleted', siteId: 'B', result: 'passed' }])).toEqual({ status: 'done', output: { siteId: 'B' } });
  });

  it('treats a refused move as done when the workload is already there, and watches one under way', () => {
    const view = (state: string, primarySite: string, drill = 'idle') => ({ workloadId: 'w', state, drill, epoch: 1, primarySite, replicas: [], policy: {} }) as unknown as WorkloadView;
    expect(alreadyThere('failover', view('failedOver', 'B'), 'B')).toBe('done');
    expect(alreadyThere('failover', view('failingOver.promoting', 'A'), 'B')).toBe('watch');
    expect(alreadyThere('switchover', view('protected', 'A'), 'B')).toBeUndefined();
    expect(alreadyThere('drillCleanup', view('protected', 'A', 'idle'), undefined)).toBe('done');
  });
});

describe('plan run records and reports', () => {
  const plan = PlanConfigSchema.parse({ name: 'p', tiers: [{ name: 'one', workloads: ['w1', 'w2'] }] });
  const c = compilePlan(plan, 'failover', [{ id: 'w1', primarySite: 'A', replicaSites: ['B'] }, { id: 'w2', primarySite: 'A', replicaSites: ['B'] }]);
  const setup: PlanRunSetup = { runId: 'r1', plan: 'p', mode: 'failover', at: 1000, actor: { kind: 'operator', id: 'alice' }, concurrency: c.concurrency, steps: c.steps };
  const writer = { coordinatorId: 'c1', leaderEpoch: 3 };
  const origin = { actor: setup.actor };

  it('replays a recorded run to the same state and decisions (the fold recomputes, it does not trust)', () => {
    const s0 = startPlanRun(setup);
    const events = planRunOpeningEvents(writer, origin, setup, s0.decisions, String(s0.snapshot.value));
    const inp = { type: 'STEP_RESULT', at: 2000, stepId: 't1.w1', attempt: 0, status: 'done', output: { rtoMs: 1200, fromSite: 'A', toSite: 'B' } } as const;
    const s1 = decidePlanRun(s0.snapshot, inp);
    events.push(...planEventsForInput(writer, origin, inp, s1.decisions, String(s1.snapshot.value)));
    const folded = foldPlanRunStream(events.map((e, i) => ({ ...e, position: i + 1 })))!;
    expect(folded.decisions).toEqual(events.filter((e) => e.type !== 'PlanRunCreated' && e.type !== 'PlanInputReceived').map((e) => e.data));
    expect(viewPlanRun(folded.snapshot)).toEqual(viewPlanRun(s1.snapshot));
    expect(events.every((e) => e.metadata.statechartVersion === 'plan@1' && e.metadata.leaderEpoch === 3)).toBe(true);
    expect(() => foldPlanRunStream([{ type: 'StepStarted', data: {}, position: 1 }])).toThrow(/position 1 is StepStarted, expected PlanRunCreated/);

    const report = buildPlanRunReport(viewPlanRun(s1.snapshot));
    expect(report.result).toBe('IN PROGRESS');
    expect(report.workloads[0]).toMatchObject({ workloadId: 'w1', status: 'done', rtoMs: 1200, toSite: 'B' });
    expect(planRunReportMarkdown(viewPlanRun(s1.snapshot))).toContain('| w1 | done | A | B | 1.2 s |');
  });
});
