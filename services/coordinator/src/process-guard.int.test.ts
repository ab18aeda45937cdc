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

/**
 * Issue 17 item 7: in the scale benchmark a coordinator's API vanished with no log line saying
 * why. A process never ends, nor stops serving, without saying so.
 */
describe('services never exit without saying why', () => {
  it('a process with nothing left running while its main still waits says so and exits 1, not 0 in silence', async () => {
    const { code, output } = await run(['--idle']);
    expect(output).toMatch(/fixture: nothing is left running .*exiting/);
    expect(code).toBe(1);
  });

  it('an exception nobody caught is reported as a crash of the named process, exit 1', async () => {
    const { code, output } = await run(['--throw']);
    expect(output).toMatch(/fixture crashed: uncaught exception: Error: a bug thrown from a timer/);
    expect(code).toBe(1);
  });
});
