export { PlanManager, PlanInputRejectedError, type PlanHost, type PlanManagerDeps } from './manager';
export { Notifier } from './notifier';
export { runHook, type HookOutcome } from './hooks';
export { planRunReport } from './report';
export { alreadyThere, workloadStepOutcome } from './workload-step';
export { notifyDecisions } from './notify-decisions';
