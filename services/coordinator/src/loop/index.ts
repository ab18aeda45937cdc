export { WorkloadRunner, NotLeaderError, type RunnerDeps } from './runner';
export { foldWorkloadStream, settle, type Folded, type PendingTimer, type PendingCommand } from './fold';
export { eventsForStep, registrationEvent, WORKLOAD_REGISTERED, STATE_CHANGED, type Writer, type Origin } from './events';
