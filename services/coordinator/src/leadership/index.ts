export { LeaderElector, leaseRequestTimeoutMs, type LeadershipState, type ElectorOptions } from './elector';
