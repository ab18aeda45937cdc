import { runningEstateWatchers } from '@drc/test-kit';
import { afterEach } from 'vitest';

/*
 * The estate starter lives in the test kit (the benches start estates too, and nothing may
 * import e2e); this file adds what only a test run has: the split-brain check after each test.
 */
export { pgDriverFor, repoRoot, reportFailover, startEstate, startEstateWatcher, watchedCopiesOf, type Estate, type EstateOptions } from '@drc/test-kit';

/**
 * Issue 17: every e2e test runs under a split-brain watcher. Each estate starts one; after
 * every test of a file that imports this harness, each running watcher fails the test if two
 * copies of a workload took writes at the same time during it (or the setup before it).
 */
afterEach(async (ctx) => {
  for (const w of runningEstateWatchers()) await w.assertNoSplitBrain(`during "${ctx.task.name}"`);
});
