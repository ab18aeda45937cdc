import postgres from 'postgres';
import { adminDatabaseUrl } from './env';
import { uniqueToken } from './unique';

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database, ending its sessions first. */
  drop(): Promise<void>;
}

/** Creates a fresh, uniquely named database on the test PostgreSQL server. */
export async function createTestDatabase(label = 'drc'): Promise<TestDatabase> {
  const name = `${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_t_${uniqueToken()}`;
  const admin = postgres(adminDatabaseUrl(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminDatabaseUrl());
  u.pathname = `/${name}`;
  return {
    name,
    url: u.toString(),
    async drop() {
      const a = postgres(adminDatabaseUrl(), { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}
