import { createTestDatabase } from '@drc/test-kit';
import { runEventStoreContract } from './testing/index';
import { createPostgresEventStore } from './postgres';

runEventStoreContract('PostgreSQL', async () => {
  const db = await createTestDatabase('es');
  const store = createPostgresEventStore({ url: db.url, pollMs: 100 });
  await store.init();
  return {
    store,
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
});
