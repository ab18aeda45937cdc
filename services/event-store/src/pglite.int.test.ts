import { runEventStoreContract } from './testing/index';
import { createPgliteEventStore } from './pglite';

runEventStoreContract('PGlite (in memory)', async () => {
  const store = createPgliteEventStore({ pollMs: 50 });
  await store.init();
  return { store, cleanup: () => store.close() };
});
