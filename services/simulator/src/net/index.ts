export { Network, type LinkSpec } from './network';
export { SimJetStream, subjectMatches, NO_JETSTREAM_FAULTS, type JetStreamFaults, type StreamConfig, type SimBus } from './jetstream';
export { SimLeaseKv, LeaseStoreError, NO_LEASE_FAULTS, type LeaseKvFaults } from './lease-kv';
