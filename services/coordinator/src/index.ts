export { Coordinator, type CoordinatorOptions, type CoordinatorStats } from './coordinator';
export { createApi, ApiError } from './api/index';
export { foldWorkloadStream, WorkloadRunner, WORKLOAD_REGISTERED, STATE_CHANGED } from './loop/index';
export { SiteTracker, ObservationTracker } from './detection/index';
export { validateAgentMessage, deadLetterFor } from './ingest/index';
