export { runEstate, REGRESSIONS, type EstateConfig, type RunResult, type Regression } from './estate';
export { planFaults, FAULT_KINDS, LATER_FAULT_KINDS, type FaultKind, type FaultEvent, type FaultPlan, type PlanShape } from './faults';
export { diskJournal, simWitness, SimWatchdog } from './sim-site';
export { shrinkSeed, type ShrinkResult } from './shrink';
