export type {
  EventStore,
  NewEvent,
  StoredEvent,
  ExpectedVersion,
  AppendResult,
  ReadStreamOptions,
  ReadAllOptions,
  SubscribeOptions,
  Subscription,
  Snapshot,
} from './port';
export {
  WrongExpectedVersionError,
  EventStoreUnavailableError,
  DuplicateEventIdError,
  isWrongExpectedVersionError,
  isEventStoreUnavailableError,
  isDuplicateEventIdError,
} from './errors';
export { canonicalJson, eventHash, GENESIS_HASH } from './hash';
export { createPostgresEventStore } from './postgres';
export { createPgliteEventStore } from './pglite';
export { createMemoryEventStore, createMemoryEventData, type MemoryEventStoreOptions, type MemoryEventData } from './memory';
export { createEventStoreDbEventStore } from './eventstoredb';
export { createEventStore, type EventStoreConfig } from './factory';
export { verifyAudit, type AuditReport } from './audit';
