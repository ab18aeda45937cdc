import { createTestDatabase } from '@drc/test-kit';
import { runEventStoreContract } from './testing/index';
import { createPostgresEventStore } from './postgres';

runEventStoreContract('PostgreSQL', async () => {
  const db = await createTestDatabase('es');
  const store = createPostgresEventStore({ url: db.url, pollMs: 100 });
  await store.init();
  return {
    store,
    secondWriter: async () => {
      const other = createPostgresEventStore({ url: db.url, pollMs: 100 });
      await other.init();
      return other;
    },
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
});
