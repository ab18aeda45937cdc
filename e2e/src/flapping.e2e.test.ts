import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chaosRandom, eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, reportFailover, startEstate, type Estate } from './harness';

const chaos = chaosRandom('flapping');

/**
 * Issue 10, scenario 6: a flapping primary (down 2 s, up 2 s, again and again, wherever the
 * primary is) gets at most one automatic failover within the cooldown; the rest are
 * suppressed with the anti-flap reason recorded. The copies' health is driven from outside
 * the agent processes through the simulator's control files.
 */
describe('flapping primary: at most one automatic failover within the cooldown', () => {
  let estate: Estate;
  const dir = mkdtempSync(join(tmpdir(), 'drc-flap-'));
  const control = (site: string) => join(dir, `${site}.json`);
  const setHealthy = (site: string, healthy: boolean) => writeFileSync(control(site), JSON.stringify({ healthy, detail: healthy ? undefined : 'flapping (test)' }));

  beforeAll(async () => {
    for (const s of ['A', 'B']) setHealthy(s, true);
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: 2000, startupGraceMs: 1500 },
        defaults: { policy: { debounceMs: 500, fenceMarginMs: 300, rpoSeconds: 10, maxDataLossSeconds: 10, cooldownSeconds: 300 } },
        sites: [{ id: 'A', priority: 1 }, { id: 'B', priority: 2 }, { id: 'C', priority: 3 }],
        workloads: [{ id: 'orders', driver: { type: 'sim', sites: { A: { controlFile: control('A') }, B: { controlFile: control('B') } } }, primarySite: 'A', replicaSites: ['B'] }],
      },
      'flap',
      { agentArgs: () => ['--heartbeat-ms', '250'] },
    );
    await eventually(async () => (await estate.sites()).every((s) => s.status === 'up'), 30_000);
  });

  afterAll(async () => {
    await estate?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails over once, then suppresses further automatic failovers and records why', async () => {
    // Whichever site holds the primary goes down for 2 s, then up for 2 s, six times over.
    let primary = 'A';
    for (let i = 0; i < 6; i++) {
      primary = (await estate.workload('orders')).primarySite;
      setHealthy(primary, false);
      await chaos.jitter(2500, 1500);
      setHealthy(primary, true);
      await chaos.jitter(2500, 1500);
    }
    setHealthy((await estate.workload('orders')).primarySite, false);
    const events = await eventually(async () => {
      const ev = await estate.events('orders');
      return ev.some((e) => e.type === 'FailoverSuppressed') ? ev : undefined;
    }, 20_000, 250);
    const automatic = events.filter((e) => e.type === 'FailoverStarted' && e.data.mode === 'unplanned');
    expect(automatic.length, 'automatic failovers within the cooldown').toBe(1);
    expect(events.filter((e) => e.type === 'FailoverCompleted')).toHaveLength(1);
    const suppressed = events.find((e) => e.type === 'FailoverSuppressed');
    expect(String(suppressed?.data.reason)).toMatch(/anti-flap: last automatic failover \d+ s ago, within the 300 s cooldown/);
    const w = await estate.workload('orders');
    expect(w.epoch).toBeLessThanOrEqual(2); // one failover (+ a reprotect of the old primary at most)
    expect(w.primarySite).toBe('B');
    await reportFailover(estate, 'orders', 'flapping primary');
  });

  it('issue 9: drc replay verify reproduces the recorded episode, and drc whatif with a 5 s debounce finds the failover that would not have happened', () => {
    const drc = (args: string[]) =>
      execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'services/cli/src/main.ts'), ...args, '--database-url', estate.db.url], { cwd: repoRoot, encoding: 'utf8' });
    const verify = drc(['replay', 'verify', '--workload', 'orders']); // exits non-zero (throws here) on any mismatch
    expect(verify).toMatch(/orders/);
    const policy = join(dir, 'slow-debounce.yaml');
    writeFileSync(policy, 'debounceMs: 5000\n');
    const whatif = drc(['whatif', '--policy', policy, '--workload', 'orders']);
    console.log(`[flapping whatif] ${whatif.trim().split('\n').join(' | ')}`);
    expect(whatif).toMatch(/FailoverStarted would not have happened/);
    expect(whatif).toMatch(/1 would have differed/);
  });

});
