import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, startProcess } from '@drc/test-kit';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./dropped-connection.fixture.ts', import.meta.url));
const run = async (args: string[]) => {
  const p = startProcess({ name: 'guard-fixture', command: process.execPath, args: ['--import', 'tsx', fixture, ...args] });
  const code = await p.exited;
  return { code, output: p.output() };
};

/**
 * A chaos run (seed 1406) crashed a coordinator while its event store's PostgreSQL restarted:
 * postgres.js drops the promise of the type lookup it runs on each new connection, and the
 * connection's failure became an unhandled rejection, which ends a Node process.
 */
describe('services survive a database connection failing while it opens', () => {
  it('a process whose new database connections fail while opening keeps running; every call gets its own error', async () => {
    // Every statement of this role is cancelled after 1 ms, the driver's own first one included.
    const db = await createTestDatabase('guard');
    const role = `drc_guard_${randomUUID().slice(0, 8)}`;
    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`CREATE ROLE ${role} LOGIN`);
      await admin.unsafe(`ALTER ROLE ${role} SET statement_timeout = 1`);
      const url = new URL(db.url);
      url.username = role;
      url.password = '';
      const { code, output } = await run([url.toString()]);
      expect(output).toMatch(/answered 5:/);
      expect(output).toMatch(/a connection failed with no caller waiting on it \(57014/);
      expect(code).toBe(0);
    } finally {
      await admin.unsafe(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await admin.end();
      await db.drop();
    }
  });

  it('any other rejection nobody handled still ends the process with exit 1', async () => {
    const { code, output } = await run(['--other']);
    expect(output).toMatch(/fixture crashed: unhandled rejection: Error: a bug: nobody awaited this/);
    expect(code).toBe(1);
  });
});
