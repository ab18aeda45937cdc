import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startEstate, type Estate } from './harness';

const cliArgs = (args: string[]) => ['--import', 'tsx', join(repoRoot, 'services/cli/src/main.ts'), ...args];

/**
 * The `drc` CLI against a real estate's API: read commands, operator commands with their exit
 * codes (accepted, rejected in the current state), the failover history after a real site loss,
 * and `drc watch` following the SSE feed.
 */
describe('drc CLI against a live coordinator API', () => {
  let estate: Estate;
  let watch: ChildProcess | undefined;
  let watched = '';
  const drc = (args: string[]) =>
    spawnSync(process.execPath, cliArgs(args), { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', DRC_API_URL: estate.apiUrl }, timeout: 120_000 });

  beforeAll(async () => {
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: 2000, startupGraceMs: 2000 },
        defaults: { policy: { debounceMs: 500, fenceMarginMs: 300, rpoSeconds: 10, maxDataLossSeconds: 10 } },
        sites: [
          { id: 'A', priority: 1 },
          { id: 'B', priority: 2 },
        ],
        workloads: [{ id: 'orders', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
      },
      'cli',
    );
  });

  afterAll(async () => {
    if (watch && watch.exitCode === null) {
      watch.kill('SIGINT');
      await new Promise((r) => watch?.once('exit', r));
    }
    await estate?.stop();
  });

  it('sites, workloads, show; pause/resume accepted; a failover while paused is rejected with exit 1', async () => {
    await eventually(async () => (await estate.sites()).every((s) => s.status === 'up'), 30_000);
    const sites = drc(['sites', '--json']);
    expect(sites.status, sites.stderr).toBe(0);
    expect((JSON.parse(sites.stdout) as { sites: Array<{ siteId: string }> }).sites.map((s) => s.siteId).sort()).toEqual(['A', 'B']);
    const workloads = drc(['workloads']);
    expect(workloads.stdout).toMatch(/orders\s+protected\s+A\s+0/);

    watch = spawn(process.execPath, cliArgs(['watch', '--json', '--api', estate.apiUrl]), { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1' } });
    watch.stdout?.on('data', (b: Buffer) => (watched += b.toString()));

    const pause = drc(['pause', 'orders', '--reason', 'patching']);
    expect(pause.status, pause.stderr).toBe(0);
    expect(pause.stdout).toMatch(/orders: paused/);
    const rejected = drc(['failover', 'orders', '--to', 'B', '--json']);
    expect(rejected.status).toBe(1);
    expect(JSON.parse(rejected.stdout)).toMatchObject({ accepted: false, state: expect.stringMatching(/paused/) });
    const resume = drc(['resume', 'orders', '--no-wait']);
    expect(resume.status, resume.stderr).toBe(0);
    expect(resume.stderr).toMatch(/accepted/);
    await eventually(() => /"kind":"event".*OperatorCommandReceived/.test(watched), 15_000);
  });

  it('after a site loss: show and history report the failover (from, to, RTO); unreachable API exits 3; bad usage exits 2', async () => {
    await eventually(async () => (await estate.workload('orders')).state === 'protected', 15_000);
    await estate.agents.get('A')!.kill();
    await eventually(async () => (await estate.workload('orders')).state === 'failedOver', 60_000);

    const history = drc(['history', 'orders', '--json']);
    expect(history.status, history.stderr).toBe(0);
    const failovers = (JSON.parse(history.stdout) as { failovers: Array<{ fromSite: string; toSite: string; epoch: number; rtoMs: number }> }).failovers;
    expect(failovers).toHaveLength(1);
    expect(failovers[0]).toMatchObject({ fromSite: 'A', toSite: 'B', epoch: 1 });
    expect(typeof failovers[0]?.rtoMs).toBe('number');
    const show = drc(['show', 'orders']);
    expect(show.stdout).toMatch(/failedOver/);
    expect(show.stdout).toMatch(/A\s+B\s+1\s+/); // the history row: from A to B, epoch 1
    await eventually(() => /"kind":"workload".*"state":"failedOver"/.test(watched), 15_000);

    const down = drc(['workloads', '--api', 'http://127.0.0.1:1']);
    expect(down.status).toBe(3);
    const usage = drc(['switchover', 'orders']);
    expect(usage.status).toBe(2);
  });
});
