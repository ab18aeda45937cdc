import { stripVTControlCharacters } from 'node:util';
import { createTestDatabase, startProcess, type TestDatabase } from '@drc/test-kit';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './harness';

/**
 * The README's first command: `npm run demo` must do what it says on a machine like this one.
 * Run as `--exit-when-settled` (the same program, ending once the failed site's workloads run
 * elsewhere) on a database of the test's own.
 */
describe('npm run demo (README)', () => {
  let db: TestDatabase | undefined;
  afterAll(async () => {
    await db?.drop();
  });

  it('starts a three-site estate, fails site fra and ends with all its workloads running elsewhere', async () => {
    db = await createTestDatabase('demo');
    const demo = startProcess({
      name: 'demo',
      command: process.execPath,
      args: ['--import', 'tsx', 'services/cli/src/demo/main.ts', '--exit-when-settled', '--fail-after-s', '1', '--timeout-s', '90'],
      cwd: repoRoot,
      env: { DATABASE_URL: db.url },
    });
    const code = await demo.exited;
    const out = stripVTControlCharacters(demo.output());
    const moved = /all (\d+) workloads of fra run elsewhere/.exec(out);
    expect(moved, out.slice(-2000)).not.toBeNull();
    expect(Number(moved![1])).toBeGreaterThan(0);
    // Each of them named with where it went (never back to fra).
    expect([...out.matchAll(/ {2}(\S+): fra → (\w+) \(epoch (\d+)\)/g)].filter((m) => m[2] !== 'fra' && Number(m[3]) >= 1)).toHaveLength(Number(moved![1]));
    expect(code).toBe(0);
  }, 120_000);
});
