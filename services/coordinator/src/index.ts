export { Coordinator, type CoordinatorOptions, type CoordinatorStats } from './coordinator';
export { CoordinatorCore, leaderBucketOf, type CoordinatorCoreDeps, type CoreMetrics } from './core/index';
export { createApi, ApiError } from './api/index';
export { WorkloadRunner } from './loop/index';
export { SiteTracker, ObservationTracker } from './detection/index';
export { validateAgentMessage, deadLetterFor } from './ingest/index';
export { LeaderElector, leaseRequestTimeoutMs, type LeadershipState } from './leadership/index';
