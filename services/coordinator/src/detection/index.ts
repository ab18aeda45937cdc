export { SiteTracker, type SiteTransition, type SiteTrackerOptions } from './site-tracker';
export { ObservationTracker, type WorkloadInputFor } from './observation-tracker';
