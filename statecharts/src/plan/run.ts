import type { PlanDecision, PlanRunResult, PlanRunSetup, PlanStep, StepStatus } from '@drc/contracts';

/** The state of one step in a run. */
export interface StepState {
  status: StepStatus;
  attempt: number;
  startedAt?: number;
  endedAt?: number;
  reason?: string;
  output?: Record<string, unknown>;
}

export interface PlanRunContext {
  setup: PlanRunSetup;
  steps: Record<string, StepState>;
  now: number;
  cancelRequested: boolean;
  result?: PlanRunResult;
  endedAt?: number;
}

const ENDED: ReadonlySet<StepStatus> = new Set(['done', 'failed', 'skipped', 'cancelled']);
export const isEnded = (s: StepStatus) => ENDED.has(s);

/** Pure. The first context of a run. */
export function initialRunContext(setup: PlanRunSetup): PlanRunContext {
  return { setup, steps: Object.fromEntries(setup.steps.map((s) => [s.id, { status: 'pending' as const, attempt: 0 }])), now: setup.at, cancelRequested: false };
}

export interface Advance {
  context: PlanRunContext;
  decisions: PlanDecision[];
}

function put(ctx: PlanRunContext, id: string, next: StepState): PlanRunContext {
  return { ...ctx, steps: { ...ctx.steps, [id]: next } };
}

/**
 * Pure. Starts every step that may start now, skips those whose hard dependency failed, and
 * respects each slot group's concurrency. Approvals start as `awaitingApproval` (they take no
 * slot). Repeats until nothing changes (a skip can unblock a barrier).
 */
export function schedule(ctx0: PlanRunContext): Advance {
  let ctx = ctx0;
  const decisions: PlanDecision[] = [];
  const byId = new Map(ctx.setup.steps.map((s) => [s.id, s]));
  for (let changed = true; changed; ) {
    changed = false;
    const running = new Map<string, number>();
    for (const s of ctx.setup.steps) {
      if (s.slotGroup && ctx.steps[s.id]?.status === 'running') running.set(s.slotGroup, (running.get(s.slotGroup) ?? 0) + 1);
    }
    for (const s of ctx.setup.steps) {
      const st = ctx.steps[s.id]!;
      if (st.status !== 'pending') continue;
      if (!s.barrier.every((b) => isEnded(ctx.steps[b]?.status ?? 'done'))) continue;
      const deps = s.after.map((a) => [a, ctx.steps[a]?.status ?? 'done'] as const);
      const broken = deps.find(([, d]) => d === 'failed' || d === 'skipped' || d === 'cancelled');
      if (broken) {
        const reason = `${byId.get(broken[0])?.label ?? broken[0]} ${broken[1] === 'failed' ? 'failed' : `was ${broken[1]}`}`;
        ctx = put(ctx, s.id, { ...st, status: 'skipped', endedAt: ctx.now, reason });
        decisions.push({ type: 'StepCompleted', stepId: s.id, attempt: st.attempt, status: 'skipped', reason });
        changed = true;
        continue;
      }
      if (!deps.every(([, d]) => d === 'done')) continue;
      if (s.kind === 'approval') {
        ctx = put(ctx, s.id, { ...st, status: 'awaitingApproval', startedAt: ctx.now });
        decisions.push({ type: 'StepAwaitingApproval', stepId: s.id, message: s.message ?? s.label });
        changed = true;
        continue;
      }
      if (s.slotGroup) {
        const n = running.get(s.slotGroup) ?? 0;
        if (n >= (ctx.setup.concurrency[s.slotGroup] ?? Infinity)) continue;
        running.set(s.slotGroup, n + 1);
      }
      ctx = put(ctx, s.id, { ...st, status: 'running', startedAt: ctx.now });
      decisions.push(startedDecision(s, st.attempt));
      changed = true;
    }
  }
  return { context: ctx, decisions };
}

function startedDecision(s: PlanStep, attempt: number): PlanDecision {
  return {
    type: 'StepStarted', stepId: s.id, kind: s.kind, attempt, tier: s.tier,
    ...(s.workloadId ? { workloadId: s.workloadId } : {}), ...(s.command ? { command: s.command } : {}), ...(s.targetSite ? { targetSite: s.targetSite } : {}),
  };
}

/** Pure. True when no step is pending, running or awaiting approval. */
export function allEnded(ctx: PlanRunContext): boolean {
  return Object.values(ctx.steps).every((s) => isEnded(s.status));
}

export function anyRunning(ctx: PlanRunContext): boolean {
  return Object.values(ctx.steps).some((s) => s.status === 'running');
}

/** Pure. The run's result once every step has ended. */
export function resultOf(ctx: PlanRunContext): PlanRunResult {
  if (ctx.cancelRequested) return 'CANCELLED';
  let warnings = false;
  for (const s of ctx.setup.steps) {
    const st = ctx.steps[s.id]!;
    if (st.status === 'failed' && s.critical) return 'ERRORS';
    if (st.status === 'skipped' && s.kind === 'workload') return 'ERRORS';
    if (st.status === 'failed' || st.status === 'skipped') warnings = true;
  }
  return warnings ? 'WARNINGS' : 'SUCCESS';
}

/** Pure. Records a step's result; a result for a step that is not running at that attempt is rejected. */
export function applyResult(ctx: PlanRunContext, input: { stepId: string; attempt: number; status: 'done' | 'failed'; reason?: string | undefined; output?: Record<string, unknown> | undefined }): Advance {
  const st = ctx.steps[input.stepId];
  if (!st || st.status !== 'running' || st.attempt !== input.attempt) {
    return { context: ctx, decisions: [{ type: 'PlanInputRejected', input: 'STEP_RESULT', reason: `step ${input.stepId} attempt ${input.attempt} is not running (${st ? `${st.status}, attempt ${st.attempt}` : 'unknown step'})` }] };
  }
  const next: StepState = { ...st, status: input.status, endedAt: ctx.now, ...(input.reason !== undefined ? { reason: input.reason } : {}), ...(input.output ? { output: input.output } : {}) };
  return {
    context: put(ctx, input.stepId, next),
    decisions: [{ type: 'StepCompleted', stepId: input.stepId, attempt: st.attempt, status: input.status, ...(input.reason !== undefined ? { reason: input.reason } : {}), ...(input.output ? { output: input.output } : {}) }],
  };
}

/** Pure. An operator approves a step that awaits approval. */
export function applyApproval(ctx: PlanRunContext, stepId: string, actor: PlanRunSetup['actor']): Advance {
  const st = ctx.steps[stepId];
  if (!st || st.status !== 'awaitingApproval') {
    return { context: ctx, decisions: [{ type: 'PlanInputRejected', input: 'STEP_APPROVE', reason: `step ${stepId} is not awaiting approval (${st?.status ?? 'unknown step'})` }] };
  }
  return {
    context: put(ctx, stepId, { ...st, status: 'done', endedAt: ctx.now, output: { approvedBy: `${actor.kind}:${actor.id}` } }),
    decisions: [{ type: 'StepApproved', stepId, actor }, { type: 'StepCompleted', stepId, attempt: st.attempt, status: 'done', output: { approvedBy: `${actor.kind}:${actor.id}` } }],
  };
}

/**
 * Pure. Retries a failed or skipped step: it and every step skipped because of it (transitively)
 * go back to pending, with the next attempt number.
 */
export function applyRetry(ctx: PlanRunContext, stepId: string, actor: PlanRunSetup['actor']): Advance {
  const st = ctx.steps[stepId];
  if (!st || (st.status !== 'failed' && st.status !== 'skipped')) {
    return { context: ctx, decisions: [{ type: 'PlanInputRejected', input: 'STEP_RETRY', reason: `step ${stepId} cannot be retried (${st?.status ?? 'unknown step'}): only a failed or skipped step can` }] };
  }
  const reset = new Set([stepId]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of ctx.setup.steps) {
      if (reset.has(s.id) || ctx.steps[s.id]?.status !== 'skipped') continue;
      if (s.after.some((a) => reset.has(a))) {
        reset.add(s.id);
        grew = true;
      }
    }
  }
  let next = ctx;
  for (const id of reset) {
    const cur = next.steps[id]!;
    next = put(next, id, { status: 'pending', attempt: cur.attempt + 1 });
  }
  next = { setup: next.setup, steps: next.steps, now: next.now, cancelRequested: next.cancelRequested }; // running again: no result yet
  return { context: next, decisions: [{ type: 'StepRetried', stepId, attempt: st.attempt + 1, actor, reset: [...reset].filter((x) => x !== stepId) }] };
}

/** Pure. Cancels what has not started (pending and awaiting approval); running steps finish. */
export function applyCancel(ctx0: PlanRunContext): Advance {
  let ctx: PlanRunContext = { ...ctx0, cancelRequested: true };
  const decisions: PlanDecision[] = [];
  for (const s of ctx.setup.steps) {
    const st = ctx.steps[s.id]!;
    if (st.status !== 'pending' && st.status !== 'awaitingApproval') continue;
    ctx = put(ctx, s.id, { ...st, status: 'cancelled', endedAt: ctx.now, reason: 'run cancelled' });
    decisions.push({ type: 'StepCompleted', stepId: s.id, attempt: st.attempt, status: 'cancelled', reason: 'run cancelled' });
  }
  return { context: ctx, decisions };
}
