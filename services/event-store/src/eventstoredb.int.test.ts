import { describe, it } from 'vitest';
import { createEventStoreDbEventStore } from './eventstoredb';
import { runEventStoreContract } from './testing/index';

const url = process.env.EVENTSTORE_URL;

if (url) {
  runEventStoreContract('EventStoreDB', async () => {
    const store = createEventStoreDbEventStore({ connectionString: url });
    await store.init();
    return { store, cleanup: () => store.close() };
  });
} else {
  describe('event store contract - EventStoreDB', () => {
    // No EventStoreDB/KurrentDB server can run on this machine (no Docker, not in Debian):
    // the same contract suite runs when EVENTSTORE_URL points at one.
    it.skip("skipped: EVENTSTORE_URL is not set (e.g. esdb://127.0.0.1:2113?tls=false)", () => {});
  });
  console.log('[event-store] EventStoreDB contract suite skipped: EVENTSTORE_URL is not set (no EventStoreDB server on this machine)');
}
