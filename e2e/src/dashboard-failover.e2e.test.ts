import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '@drc/test-kit';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startEstate, type Estate } from './harness';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard e2e skipped: ${CHROMIUM} not found (apt-get install chromium)`);

/**
 * The NOC dashboard in headless Chromium: a site's agent dies and the workload tiles change
 * colour and state from the SSE feed, without a reload; a click shows the workload's timeline.
 */
describe.skipIf(!hasChromium)('dashboard - live failover without reload', () => {
  let estate: Estate;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: 2000, startupGraceMs: 2000 },
        defaults: { policy: { debounceMs: 500, fenceMarginMs: 300, rpoSeconds: 10, maxDataLossSeconds: 10 } },
        sites: [
          { id: 'A', priority: 1 },
          { id: 'B', priority: 2 },
        ],
        workloads: [
          { id: 'orders', driver: 'sim', primarySite: 'A', replicaSites: ['B'] },
          { id: 'search', driver: 'sim', primarySite: 'B', replicaSites: ['A'] },
        ],
      },
      'dash',
    );
    // Playwright gives Chromium a fresh empty profile of its own (it refuses --user-data-dir here).
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });

  afterAll(async () => {
    await browser?.close();
    await estate?.stop();
  });

  it('shows sites and workloads, follows a site loss live, and shows a timeline on click', async () => {
    await eventually(async () => (await estate.sites()).every((s) => s.status === 'up'), 30_000);
    await page.goto(`${estate.apiUrl}/`);
    const tile = page.locator('[data-workload="orders"]');
    await tile.waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor({ timeout: 15_000 });
    expect(await tile.getAttribute('data-state')).toBe('protected');
    expect(await tile.getAttribute('class')).toContain('s-green');
    expect(await page.locator('.site[data-site="A"]').getAttribute('data-status')).toBe('up');
    // A marker that a reload would erase.
    await page.evaluate('window.drcNoReload = true');

    await estate.agents.get('A')!.kill(); // the datacenter goes dark

    // Page-side expressions as strings: the e2e package compiles without the DOM lib.
    await page.waitForFunction(`document.querySelector('[data-workload="orders"]')?.getAttribute('data-state') === 'failedOver'`, undefined, { timeout: 60_000 });
    expect(await tile.getAttribute('data-primary')).toBe('B');
    expect(await tile.getAttribute('class')).toContain('s-cyan');
    await page.waitForFunction(`document.querySelector('.site[data-site="A"]')?.getAttribute('data-status') === 'lost'`, undefined, { timeout: 30_000 });
    expect(await page.evaluate('window.drcNoReload === true')).toBe(true);

    await tile.click();
    await page.locator('[data-testid="timeline"] li', { hasText: 'FailoverCompleted' }).waitFor({ timeout: 15_000 });
    const outDir = join(repoRoot, 'e2e/test-output');
    mkdirSync(outDir, { recursive: true });
    const shot = join(outDir, 'dashboard-failover.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(1000);
  });
});
