export { LeaderElector, leaseRequestTimeoutMs, type LeadershipState, type ElectorOptions, type ElectorOverLeases, type ElectorOverNats } from './elector';
