import type { PlanDecision, PlanRunInput, PlanRunSetup, PlanRunView } from '@drc/contracts';
import { initialTransition, setup, transition, type SnapshotFrom } from 'xstate';
import { allEnded, anyRunning, applyApproval, applyCancel, applyResult, applyRetry, initialRunContext, resultOf, schedule, type Advance, type PlanRunContext } from './run';

export const PLAN_STATECHART_VERSION = 'plan@1';

type PlanEvent = PlanRunInput;

/**
 * The recovery-plan run machine: `running ⇄ paused`, `cancelling`, `finished` (which a retry
 * of a failed step re-opens). Steps and their order live in the context (a plan is data, not
 * states); the pure functions of ./run decide which start, and every decision is emitted as a
 * `decide` action for the runtime to record before it acts, exactly as for workloads.
 */
const m = setup({
  types: { context: {} as PlanRunContext, events: {} as PlanEvent, input: {} as PlanRunSetup },
  actions: {
    decide: (_, _params: unknown) => {},
  },
  guards: {
    allEnded: ({ context }) => allEnded(context),
    noneRunning: ({ context }) => !anyRunning(context),
  },
});

/** Applies one pure step, emitting its decisions and storing its context. */
const apply = (fn: (ctx: PlanRunContext, event: PlanEvent) => Advance, thenSchedule: boolean) =>
  m.enqueueActions(({ context, event, enqueue }) => {
    const ctx = { ...context, now: event.at };
    const a = fn(ctx, event);
    let out = a.context;
    const decisions: PlanDecision[] = [...a.decisions];
    if (thenSchedule && !a.decisions.some((d) => d.type === 'PlanInputRejected')) {
      const s = schedule(out);
      out = s.context;
      decisions.push(...s.decisions);
    }
    for (const d of decisions) enqueue({ type: 'decide', params: d });
    enqueue.assign(() => out);
  });

const rejectIn = (state: string) =>
  m.enqueueActions(({ event, enqueue }) => {
    enqueue({ type: 'decide', params: { type: 'PlanInputRejected', input: event.type, reason: `the run is ${state}` } satisfies PlanDecision });
  });

const finish = m.enqueueActions(({ context, enqueue }) => {
  const result = resultOf(context);
  enqueue({ type: 'decide', params: { type: 'PlanRunFinished', result } satisfies PlanDecision });
  enqueue.assign({ result, endedAt: context.now });
});

const onResult = apply((c, e) => (e.type === 'STEP_RESULT' ? applyResult(c, e) : { context: c, decisions: [] }), true);
const onResultNoSchedule = apply((c, e) => (e.type === 'STEP_RESULT' ? applyResult(c, e) : { context: c, decisions: [] }), false);
const onApprove = (thenSchedule: boolean) => apply((c, e) => (e.type === 'STEP_APPROVE' ? applyApproval(c, e.stepId, e.actor) : { context: c, decisions: [] }), thenSchedule);
const onRetry = apply((c, e) => (e.type === 'STEP_RETRY' ? applyRetry(c, e.stepId, e.actor) : { context: c, decisions: [] }), true);
const actorOf = (e: PlanEvent) => ('actor' in e ? e.actor : { kind: 'system' as const, id: 'unknown' });

export const planRunMachine = m.createMachine({
  id: 'planRun',
  context: ({ input }) => initialRunContext(input),
  initial: 'running',
  entry: m.enqueueActions(({ context, enqueue }) => {
    const { setup: su } = context;
    enqueue({ type: 'decide', params: { type: 'PlanRunStarted', runId: su.runId, plan: su.plan, mode: su.mode, steps: su.steps.length, actor: su.actor, ...(su.reason ? { reason: su.reason } : {}) } satisfies PlanDecision });
    const s = schedule(context);
    for (const d of s.decisions) enqueue({ type: 'decide', params: d });
    enqueue.assign(() => s.context);
  }),
  states: {
    running: {
      always: { guard: 'allEnded', target: 'finished' },
      on: {
        STEP_RESULT: { actions: onResult },
        STEP_APPROVE: { actions: onApprove(true) },
        STEP_RETRY: { actions: onRetry },
        RUN_PAUSE: { target: 'paused', actions: m.enqueueActions(({ event, enqueue }) => enqueue({ type: 'decide', params: { type: 'PlanRunPaused', actor: actorOf(event) } satisfies PlanDecision })) },
        RUN_RESUME: { actions: rejectIn('not paused') },
        RUN_CANCEL: { target: 'cancelling', actions: [m.enqueueActions(({ event, enqueue }) => enqueue({ type: 'decide', params: { type: 'PlanRunCancelRequested', actor: actorOf(event) } satisfies PlanDecision })), apply((c) => applyCancel(c), false)] },
      },
    },
    paused: {
      on: {
        STEP_RESULT: { actions: onResultNoSchedule },
        STEP_APPROVE: { actions: onApprove(false) },
        STEP_RETRY: { actions: rejectIn('paused') },
        RUN_PAUSE: { actions: rejectIn('already paused') },
        RUN_RESUME: {
          target: 'running',
          actions: [m.enqueueActions(({ event, enqueue }) => enqueue({ type: 'decide', params: { type: 'PlanRunResumed', actor: actorOf(event) } satisfies PlanDecision })), apply((c) => ({ context: c, decisions: [] }), true)],
        },
        RUN_CANCEL: { target: 'cancelling', actions: [m.enqueueActions(({ event, enqueue }) => enqueue({ type: 'decide', params: { type: 'PlanRunCancelRequested', actor: actorOf(event) } satisfies PlanDecision })), apply((c) => applyCancel(c), false)] },
      },
    },
    cancelling: {
      always: { guard: 'noneRunning', target: 'finished' },
      on: {
        STEP_RESULT: { actions: onResultNoSchedule },
        STEP_APPROVE: { actions: rejectIn('being cancelled') },
        STEP_RETRY: { actions: rejectIn('being cancelled') },
        RUN_PAUSE: { actions: rejectIn('being cancelled') },
        RUN_RESUME: { actions: rejectIn('being cancelled') },
        RUN_CANCEL: { actions: rejectIn('already being cancelled') },
      },
    },
    finished: {
      entry: finish,
      on: {
        STEP_RETRY: { guard: ({ context }) => context.result !== 'CANCELLED', target: 'running', actions: onRetry },
        STEP_RESULT: { actions: rejectIn('finished') },
        STEP_APPROVE: { actions: rejectIn('finished') },
        RUN_PAUSE: { actions: rejectIn('finished') },
        RUN_RESUME: { actions: rejectIn('finished') },
        RUN_CANCEL: { actions: rejectIn('finished') },
      },
    },
  },
});

export type PlanRunSnapshot = SnapshotFrom<typeof planRunMachine>;

interface ActionLike {
  type: string;
  params?: unknown;
}
const decisionsOf = (actions: ReadonlyArray<ActionLike>): PlanDecision[] => actions.filter((a) => a.type === 'decide').map((a) => a.params as PlanDecision);

/** Pure. Starts a run: the first snapshot and its decisions (the steps that start at once). */
export function startPlanRun(setupValue: PlanRunSetup): { snapshot: PlanRunSnapshot; decisions: PlanDecision[] } {
  const [snapshot, actions] = initialTransition(planRunMachine, setupValue);
  return { snapshot, decisions: decisionsOf(actions as ActionLike[]) };
}

/** Pure. Feeds one recorded input to a run. */
export function decidePlanRun(snapshot: PlanRunSnapshot, input: PlanRunInput): { snapshot: PlanRunSnapshot; decisions: PlanDecision[] } {
  const [next, actions] = transition(planRunMachine, snapshot, input);
  return { snapshot: next, decisions: decisionsOf(actions as ActionLike[]) };
}

/** Pure. The read-side view of a run. */
export function viewPlanRun(snapshot: PlanRunSnapshot): PlanRunView {
  const c = snapshot.context;
  return {
    runId: c.setup.runId,
    plan: c.setup.plan,
    mode: c.setup.mode,
    state: snapshot.value as PlanRunView['state'],
    ...(c.result ? { result: c.result } : {}),
    startedAt: c.setup.at,
    ...(c.endedAt !== undefined ? { endedAt: c.endedAt } : {}),
    actor: c.setup.actor,
    ...(c.setup.reason ? { reason: c.setup.reason } : {}),
    steps: c.setup.steps.map((s) => {
      const st = c.steps[s.id]!;
      return {
        id: s.id, tier: s.tier, kind: s.kind, label: s.label, status: st.status, attempt: st.attempt, critical: s.critical,
        ...(s.workloadId ? { workloadId: s.workloadId } : {}),
        ...(st.startedAt !== undefined ? { startedAt: st.startedAt } : {}),
        ...(st.endedAt !== undefined ? { endedAt: st.endedAt } : {}),
        ...(st.reason !== undefined ? { reason: st.reason } : {}),
        ...(st.output ? { output: st.output } : {}),
      };
    }),
  };
}
