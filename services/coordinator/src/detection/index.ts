export { SiteTracker, type SiteTransition, type SiteTrackerOptions } from './site-tracker';
export { ObservationTracker, type WorkloadInputFor } from './observation-tracker';
export { siteTransitionInputs, siteTransitionMatters, type SiteTransitionInputs } from './site-loss';
