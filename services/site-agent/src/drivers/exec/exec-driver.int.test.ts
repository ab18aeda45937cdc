import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@drc/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { describeDriverContract } from '../../testing/index';
import { isDriverError, type ActionContext } from '../driver';
import { createExecDriver } from './exec-driver';

const logger = createLogger('exec-test').child({}, { level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'drc-exec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const make = (settings: Record<string, unknown>, site = 'A') => createExecDriver({ workloadId: 'lb-pool', siteId: site, configuredRole: 'primary', settings, peers: [], logger });
let n = 0;
const ctx = (over: Partial<ActionContext> = {}): ActionContext => ({ commandId: `c${++n}`, epoch: 7, deadline: Date.now() + 30_000, signal: new AbortController().signal, ...over });
const node = (js: string) => [process.execPath, '-e', js];

describe('exec driver with real processes', () => {
  it('runs the action command with the context as environment; JSON on stdout is the detail', async () => {
    const d = await make({ actions: { redirect: { command: node('console.log(JSON.stringify({ site: process.env.DRC_SITE, epoch: process.env.DRC_EPOCH, action: process.env.DRC_ACTION, id: process.env.DRC_COMMAND_ID, params: JSON.parse(process.env.DRC_PARAMS), pool: process.env.POOL }))'), env: { POOL: 'web-a' } } } });
    expect([...d.capabilities]).toEqual(['redirect']);
    const out = await d.execute('redirect', { fromSite: 'B' }, ctx({ commandId: 'cmd-1' }));
    expect(out.detail).toEqual({ site: 'A', epoch: '7', action: 'redirect', id: 'cmd-1', params: { fromSite: 'B' }, pool: 'web-a' });
  });

  it('a non-zero exit fails the step with the exit code and the end of stderr', async () => {
    const d = await make({ actions: { fence: { command: 'echo "LUN 12 still mapped" >&2; exit 4' } } });
    const e = await d.execute('fence', {}, ctx()).catch((x: unknown) => x);
    expect(isDriverError(e)).toBe(true);
    expect((e as Error).message).toBe('fence: exited with 4: LUN 12 still mapped');
  });

  it('a step past its timeout is killed with everything it started', async () => {
    const marker = join(dir, 'late');
    const d = await make({ actions: { promote: { command: `sleep 1.5 && touch ${marker} & sleep 1.5 && touch ${marker}`, timeoutMs: 300 } } });
    await expect(d.execute('promote', {}, ctx())).rejects.toThrow('promote: timed out after 300 ms (killed)');
    await new Promise((r) => setTimeout(r, 2000));
    expect(() => readFileSync(marker)).toThrow(); // the background child died with the group
  });

  it('stdout that is not JSON fails the step; empty stdout is fine', async () => {
    await expect((await make({ actions: { stop: { command: ['echo', 'done!'] } } })).execute('stop', {}, ctx())).rejects.toThrow(/not JSON/);
    expect((await (await make({ actions: { stop: { command: ['true'] } } })).execute('stop', {}, ctx())).detail).toEqual({});
  });

  it('probes with a command printing JSON, and reports a broken probe as unhealthy instead of throwing', async () => {
    const state = join(dir, 'probe.json');
    writeFileSync(state, JSON.stringify({ role: 'replica', healthy: true, replication: { position: '42', lagSeconds: 0.5 } }));
    const d = await make({ probe: { command: ['cat', state] } });
    expect(await d.probe()).toEqual({ role: 'replica', healthy: true, replication: { position: '42', lagSeconds: 0.5 } });
    writeFileSync(state, '{"role":"boss","healthy":true}');
    expect(await d.probe()).toMatchObject({ role: 'unknown', healthy: false, detail: expect.stringMatching(/^probe output role/) });
    expect(await (await make({ probe: { command: ['false'] } })).probe()).toMatchObject({ healthy: false, detail: expect.stringMatching(/^probe exited with 1/) });
  });

  it('rejects bad settings naming the field', async () => {
    await expect(make({ actions: { teleport: { command: ['x'] } } })).rejects.toThrow(/driver\.settings\.actions/);
    await expect(make({ actions: { fence: { command: [] } } })).rejects.toThrow(/driver\.settings\.actions\.fence\.command/);
  });
});

describeDriverContract('exec', async () => ({
  driver: await make({ actions: { fence: { command: ['true'] }, redirect: { command: node('console.log("{}")') } }, probe: { command: ['echo', '{"role":"primary","healthy":true}'] } }),
  idempotent: ['fence', 'redirect'],
}));
