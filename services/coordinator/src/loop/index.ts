export { WorkloadRunner, NotLeaderError, type RunnerDeps, type StepOutcome } from './runner';
export { eventsForStep, registrationEvent, type Writer, type Origin } from '@drc/history';
export { WorkloadSet, type InputCount } from './workload-set';
export { createGate, type Gate } from './gate';
export { runStreamStep, WORKLOAD_STREAM_RETRY, PLAN_RUN_STREAM_RETRY, type RetryPolicy, type StreamStep } from './stream-loop';
