import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresEventStore } from '@drc/event-store';
import { createTestDatabase, type TestDatabase } from '@drc/test-kit';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const drc = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'services/cli/src/main.ts'), ...args], { cwd: repo, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 60_000 });

describe('drc config validate', () => {
  it('accepts the example estate', () => {
    const r = drc(['config', 'validate', 'examples/three-sites.yaml']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/valid \(3 sites, 12 workloads\)/);
  });

  it('rejects a negative RPO and an unknown site, naming both fields', () => {
    const dir = mkdtempSync(join(tmpdir(), 'drc-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      ['sites: [{id: A}, {id: B}]', 'workloads:', '  - {id: w1, driver: sim, primarySite: A, replicaSites: [B], rpoSeconds: -5}', '  - {id: w2, driver: sim, primarySite: A, replicaSites: [Z]}'].join('\n'),
    );
    const r = drc(['config', 'validate', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('workloads[0].rpoSeconds: expected a positive number');
    expect(r.stderr).toContain('workloads[1].replicaSites[0]: unknown site "Z"');
  });

  it('says what is wrong with a file that is not YAML, and exits 2 on bad usage', () => {
    const dir = mkdtempSync(join(tmpdir(), 'drc-cli-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'sites: [\n');
    const r = drc(['config', 'validate', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not valid YAML\/JSON \(line/);
    expect(drc(['config', 'validate']).status).toBe(2);
    expect(drc(['no-such-command']).status).toBe(2);
  });
});

describe('drc audit verify', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('cliaudit');
    const store = createPostgresEventStore({ url: db.url });
    await store.init();
    const meta = { correlationId: 'c', actor: { kind: 'coordinator' as const, id: 't' }, coordinatorId: 't', leaderEpoch: 1, statechartVersion: 'x' };
    for (const s of ['workload-a', 'workload-b']) {
      await store.append(s, [1, 2, 3].map((n) => ({ id: `${s}-${n}`, type: 'Tick', data: { n }, metadata: meta })), { expectedVersion: 0 });
    }
    await store.close();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('exits 0 on an untouched store, then names the stream and position of an event edited with SQL', async () => {
    const clean = drc(['audit', 'verify', '--database-url', db.url]);
    expect(clean.status).toBe(0);
    expect(clean.stdout).toMatch(/2 streams, 6 events: every hash chain is intact/);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    await sql`UPDATE drc_events SET data = '{"n": 99}'::jsonb WHERE stream = 'workload-b' AND position = 3`;
    await sql.end();
    const tampered = drc(['audit', 'verify', '--database-url', db.url]);
    expect(tampered.status).toBe(1);
    expect(tampered.stdout).toMatch(/stream workload-b position 3: content does not match its hash/);
    expect(tampered.stdout).not.toMatch(/workload-a/);
    expect(drc(['audit', 'verify', '--database-url', db.url, '--stream', 'a']).status).toBe(0);
  });
});
