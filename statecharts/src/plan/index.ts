export { compilePlan, MODE_COMMAND, type CompiledPlan, type PlanWorkloadInfo } from './compile';
export { decidePlanRun, planRunMachine, PLAN_STATECHART_VERSION, startPlanRun, viewPlanRun, type PlanRunSnapshot } from './machine';
export { allEnded, isEnded, resultOf, type PlanRunContext, type StepState } from './run';
