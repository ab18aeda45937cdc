import type { HookConfig, OperatorCommandName, PlanConfig, PlanMode, PlanStep, TierStep } from '@drc/contracts';

/** What a plan mode asks of each workload. */
export const MODE_COMMAND: Record<PlanMode, OperatorCommandName> = {
  failover: 'failover',
  migrate: 'switchover',
  test: 'drillStart',
  cleanup: 'drillCleanup',
  reprotect: 'reprotect',
  failback: 'failback',
};

export interface PlanWorkloadInfo {
  id: string;
  group?: string | undefined;
  primarySite: string;
  replicaSites: string[];
}

export interface CompiledPlan {
  steps: PlanStep[];
  /** Slot group → how many of its steps may run at once. */
  concurrency: Record<string, number>;
}

const runsIn = (mode: PlanMode, modes: readonly PlanMode[] | undefined) => modes === undefined || modes.includes(mode);

/**
 * Pure. Turns a plan into the ordered steps of one run in `mode`.
 *
 * Tier order is a barrier: every step of tier N waits until all of tier N-1 has ended (done,
 * failed or skipped), so one failed workload does not hold back the next tier. Inside a tier,
 * `before` steps run in order, then the workloads (each: pre-hook → move → post-hook, a
 * failing pre-hook skipping the move), then the `after` steps in order. `after` on a workload
 * is a hard dependency: when the named workload's move fails, this one is skipped.
 * `startApproval` prepends an approval (a site-loss trigger that waits for a human).
 */
export function compilePlan(plan: PlanConfig, mode: PlanMode, workloads: ReadonlyArray<PlanWorkloadInfo>, opts: { startApproval?: string } = {}): CompiledPlan {
  const steps: PlanStep[] = [];
  const concurrency: Record<string, number> = {};
  const byId = new Map(workloads.map((w) => [w.id, w]));
  const command = MODE_COMMAND[mode];
  let previousTier: string[] = [];
  if (opts.startApproval) {
    steps.push({ id: 'start', tier: 0, kind: 'approval', label: 'approve the start of the plan', after: [], barrier: [], critical: true, message: opts.startApproval });
    previousTier = ['start'];
  }
  const hookStep = (id: string, tier: number, label: string, hook: HookConfig, after: string[], barrier: string[], critical: boolean): PlanStep => ({
    id, tier, kind: 'hook', label: hook.name ? `${label}: ${hook.name}` : label, after, barrier, critical: critical && !hook.continueOnError, hook,
  });
  const tierStep = (id: string, tier: number, st: TierStep, after: string[], barrier: string[], tierWorkloads: string[]): PlanStep | undefined => {
    if ('hook' in st) return runsIn(mode, st.hook.modes) ? hookStep(id, tier, 'hook', st.hook, after, barrier, true) : undefined;
    if ('approval' in st) return runsIn(mode, st.approval.modes) ? { id, tier, kind: 'approval', label: 'approval', after, barrier, critical: true, message: st.approval.message } : undefined;
    const w = st.waitFor;
    if (!runsIn(mode, w.modes)) return undefined;
    return {
      id, tier, kind: 'waitFor', label: `wait for replica lag ≤ ${w.replicaLagBelowSeconds} s`, after, barrier, critical: false,
      waitFor: { replicaLagBelowSeconds: w.replicaLagBelowSeconds, workloads: w.workloads ?? tierWorkloads, timeoutMs: w.timeoutMs },
    };
  };

  plan.tiers.forEach((tier, ti) => {
    const t = ti + 1;
    const slot = `tier${t}`;
    concurrency[slot] = tier.concurrency ?? plan.concurrency;
    const tierIds: string[] = [];
    const members = [...tier.workloads];
    for (const g of tier.groups) for (const w of workloads) if (w.group === g && !members.some((m) => m.id === w.id)) members.push({ id: w.id, after: [] });
    const memberIds = members.map((m) => m.id);

    // before-steps: a chain; the first waits for the previous tier.
    let chain: string[] = [];
    tier.before.forEach((st, i) => {
      const step = tierStep(`t${t}.before.${i + 1}`, t, st, chain, previousTier, memberIds);
      if (!step) return;
      steps.push(step);
      tierIds.push(step.id);
      chain = [step.id];
    });
    const beforeIds = [...tierIds];

    const moveId = (id: string) => `t${t}.${id}`;
    for (const m of members) {
      const info = byId.get(m.id);
      const target = m.targetSite ?? plan.recoverySite;
      const deps = [...beforeIds, ...m.after.map(moveId)];
      let preId: string | undefined;
      if (m.pre && runsIn(mode, m.pre.modes)) {
        preId = `${moveId(m.id)}.pre`;
        steps.push({ ...hookStep(preId, t, `pre-hook of ${m.id}`, m.pre, deps, previousTier, true), critical: true, workloadId: m.id });
        tierIds.push(preId);
      }
      // The plan's recovery site only where the workload has a copy; a planned move needs a target.
      const copies = info ? [info.primarySite, ...info.replicaSites] : [];
      const usable = target && copies.includes(target) && target !== info?.primarySite ? target : undefined;
      const targetSite = m.targetSite ?? usable ?? (command === 'switchover' || command === 'drillStart' ? info?.replicaSites[0] : undefined);
      steps.push({
        id: moveId(m.id), tier: t, kind: 'workload', label: `${command} ${m.id}${targetSite ? ` → ${targetSite}` : ''}`,
        after: preId ? [preId, ...m.after.map(moveId)] : deps, barrier: previousTier, slotGroup: slot, critical: true,
        workloadId: m.id, command, ...(targetSite ? { targetSite } : {}),
      });
      tierIds.push(moveId(m.id));
      if (m.post && runsIn(mode, m.post.modes)) {
        const postId = `${moveId(m.id)}.post`;
        steps.push({ ...hookStep(postId, t, `post-hook of ${m.id}`, m.post, [moveId(m.id)], [], false), workloadId: m.id });
        tierIds.push(postId);
      }
    }

    // after-steps: a chain that starts when every workload step of the tier has ended.
    const workloadSteps = tierIds.filter((id) => !beforeIds.includes(id));
    chain = [];
    let first = true;
    tier.after.forEach((st, i) => {
      const step = tierStep(`t${t}.after.${i + 1}`, t, st, [...beforeIds, ...chain], first ? [...previousTier, ...workloadSteps] : [], memberIds);
      if (!step) return;
      steps.push(step);
      tierIds.push(step.id);
      chain = [step.id];
      first = false;
    });
    if (tierIds.length > 0) previousTier = tierIds;
  });
  return { steps, concurrency };
}
