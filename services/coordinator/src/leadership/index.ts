export { LeaderElector, type LeadershipState, type ElectorOptions } from './elector';
