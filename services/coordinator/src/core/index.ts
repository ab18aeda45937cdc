export { CoordinatorCore, leaderBucketOf, type CoordinatorCoreDeps, type CoordinatorStats, type CoreMetrics } from './coordinator-core';
