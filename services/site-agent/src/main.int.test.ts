import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSubjects } from '@drc/contracts';
import { deleteStreams, freePort, natsUrl, startProcess, uniquePrefix } from '@drc/test-kit';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'drc-agent-main-'));
const prefix = uniquePrefix('agentmain');
afterAll(async () => {
  await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_'));
  rmSync(dir, { recursive: true, force: true });
});
writeFileSync(
  join(dir, 'estate.yaml'),
  stringify({ nats: { url: natsUrl(), prefix }, sites: [{ id: 'fra' }, { id: 'ams' }], workloads: [{ id: 'w1', driver: 'sim', primarySite: 'fra', replicaSites: ['ams'] }] }),
);
const run = (args: string[]) => startProcess({ name: 'agent-main', command: process.execPath, args: ['--import', 'tsx', main, ...args], env: { NATS_URL: natsUrl(), LOG_LEVEL: 'warn' } });

describe('site agent process: its own config file', () => {
  it('rejects a bad agent config naming every bad field, and exits 2', async () => {
    writeFileSync(join(dir, 'bad.yaml'), stringify({ site: 'fra', config: 'estate.yaml', heartbeatMs: -5, witness: { peers: { ams: 'ftp://x' } }, bogus: 1 }));
    const p = run(['--agent-config', join(dir, 'bad.yaml')]);
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/heartbeatMs: expected a positive number of milliseconds/);
    expect(p.output()).toMatch(/witness\.peers\.ams: expected an http\(s\) URL/);
    expect(p.output()).toMatch(/bogus/);
  });

  it('starts from the agent config alone (estate path relative to it, state dir, witness), flags overriding it', async () => {
    const port = await freePort();
    writeFileSync(join(dir, 'agent.yaml'), stringify({ site: 'ams', config: 'estate.yaml', stateDir: 'state', heartbeatMs: 200, witness: { listen: `127.0.0.1:${port}` } }));
    const p = run(['--agent-config', join(dir, 'agent.yaml'), '--agent-id', 'ams-from-flag']);
    try {
      await p.waitFor(/agent ams ready/, 30_000);
      expect(p.output()).toMatch(new RegExp(`witness on :${port}`));
      const answer = (await (await fetch(`http://127.0.0.1:${port}/v1/witness`)).json()) as { siteId: string; agentId: string };
      expect(answer).toMatchObject({ siteId: 'ams', agentId: 'ams-from-flag' });
      expect(readdirSync(join(dir, 'state'))).toContain('agent-state.jsonl');
    } finally {
      await p.stop();
    }
  });
});
