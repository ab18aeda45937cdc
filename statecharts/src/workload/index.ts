export { workloadMachine, STATECHART_VERSION, type WorkloadContext, type WorkloadEvent, type SiteState } from './machine';
export { selectReplica, type SiteFacts, type Selection } from './select-replica';
export {
  startWorkload,
  decideWorkload,
  viewWorkload,
  stateOf,
  drillStateOf,
  persistWorkload,
  restoreWorkload,
  type WorkloadSnapshot,
  type Effect,
  type Step,
} from './api';
export { toMermaid, toJson } from './export';
