import type { Decision, OperatorCommandName, WorkloadInput, WorkloadView } from '@drc/contracts';

export interface WorkloadStepOutcome {
  status: 'done' | 'failed';
  reason?: string;
  output?: Record<string, unknown>;
}

/**
 * Pure. Whether one processed workload input (and the decisions it caused) ends a plan step
 * that asked the workload for `command`. Undefined: not yet.
 */
export function workloadStepOutcome(command: OperatorCommandName, input: WorkloadInput, decisions: ReadonlyArray<Decision>): WorkloadStepOutcome | undefined {
  for (const d of decisions) {
    switch (command) {
      case 'failover':
      case 'switchover':
      case 'failback':
        if (d.type === 'FailoverCompleted') {
          return { status: 'done', output: { fromSite: d.fromSite, toSite: d.toSite, epoch: d.epoch, rtoMs: d.rtoMs, ...(d.dataLossSeconds !== undefined ? { dataLossSeconds: d.dataLossSeconds } : {}) } };
        }
        if (d.type === 'FailoverAborted') return { status: 'failed', reason: `aborted: ${d.reason}` };
        if (d.type === 'Escalated') return { status: 'failed', reason: `escalated at ${d.step}: ${d.reason}` };
        break;
      case 'reprotect':
        if (d.type === 'ReprotectCompleted') return { status: 'done', output: { siteId: d.siteId } };
        if (d.type === 'Escalated') return { status: 'failed', reason: `escalated at ${d.step}: ${d.reason}` };
        break;
      case 'drillStart':
        if (d.type === 'DrillCompleted' && d.result === 'failed') return { status: 'failed', reason: `drill failed${d.detail ? `: ${d.detail}` : ''}` };
        break;
      case 'drillCleanup':
        if (d.type === 'DrillCompleted') return d.result === 'passed' ? { status: 'done', output: { siteId: d.siteId } } : { status: 'failed', reason: `drill cleanup failed${d.detail ? `: ${d.detail}` : ''}` };
        break;
      default:
        break;
    }
  }
  if (command === 'drillStart' && input.type === 'COMMAND_RESULT' && input.action === 'drillStart') {
    return input.status === 'done' ? { status: 'done', output: { siteId: input.siteId, ...input.detail } } : { status: 'failed', reason: `drill start ${input.status}${input.reason ? `: ${input.reason}` : ''}` };
  }
  return undefined;
}

/**
 * Pure. When the workload refused the plan's command, is it already where the plan wants it
 * (e.g. an automatic failover got there first)? 'done', 'watch' (a move is under way: wait for
 * it to complete), or undefined (a real refusal).
 */
export function alreadyThere(command: OperatorCommandName, view: WorkloadView, targetSite: string | undefined): 'done' | 'watch' | undefined {
  const s = view.state;
  switch (command) {
    case 'failover':
    case 'switchover':
    case 'failback':
      if (/^(failingOver|switchingOver|failingBack)/.test(s)) return 'watch';
      if (s === 'failedOver' || s.startsWith('reprotecting')) return targetSite === undefined || view.primarySite === targetSite ? 'done' : undefined;
      return targetSite !== undefined && view.primarySite === targetSite && (s === 'protected' || s === 'degraded') ? 'done' : undefined;
    case 'reprotect':
      if (s.startsWith('reprotecting')) return 'watch';
      return s === 'protected' ? 'done' : undefined;
    case 'drillStart':
      return view.drill === 'running' ? 'done' : undefined;
    case 'drillCleanup':
      if (view.drill === 'cleaningUp') return 'watch';
      return view.drill === 'idle' ? 'done' : undefined;
    default:
      return undefined;
  }
}
