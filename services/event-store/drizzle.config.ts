import { defineConfig } from 'drizzle-kit';

// `npx drizzle-kit generate --config services/event-store/drizzle.config.ts` after a schema change.
export default defineConfig({
  dialect: 'postgresql',
  schema: './services/event-store/src/sql/schema.ts',
  out: './services/event-store/drizzle',
});
