import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgresPair } from './pg-pair';
import { startPostgresServer, stopAllPostgresServers } from './pg-server';
import { eventually } from './process';
import { startSplitBrainWatcher, type WatchedCopy } from './split-brain-watcher';

const dir = mkdtempSync(join(tmpdir(), 'drc-watcher-'));

describe('split-brain watcher - finds two copies of one workload taking writes at once', () => {
  afterAll(() => {
    stopAllPostgresServers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two PostgreSQL servers of one workload both writable: an overlap, printed with its samples', async () => {
    // A dates its test writes by their commit (track_commit_timestamp), B by the answer: both ways find the overlap.
    const [a, b] = await Promise.all([startPostgresServer({ label: 'sbw-a', settings: { track_commit_timestamp: 'on' } }), startPostgresServer({ label: 'sbw-b' })]);
    const w = await startSplitBrainWatcher([
      { workloadId: 'db', siteId: 'A', kind: 'postgres', host: '127.0.0.1', port: a.port },
      { workloadId: 'db', siteId: 'B', kind: 'postgres', host: '127.0.0.1', port: b.port },
    ]);
    try {
      await eventually(() => w.stats().samples['db@B']! >= 10, 20_000, 50);
      await expect(w.assertNoSplitBrain('while both servers ran')).rejects.toThrow(/split brain while both servers ran: \d+ overlapping writable samples \(db\)\n\s+db: A and B writable together[\s\S]*A .*WRITABLE: not in recovery, test write committed[\s\S]*B .*WRITABLE/);
      // Each server holds the watcher's own test writes.
      expect(Number((await a.sql<{ n: string }>('SELECT count(*) AS n FROM drc_split_brain_watch'))[0]?.n)).toBeGreaterThan(0);
    } finally {
      await w.stop();
      a.destroy();
      b.destroy();
    }
  });

  it('a standby promoted after its primary stopped: both took writes in turn, no overlap', async () => {
    const pair = await startPostgresPair('sbw');
    const w = await startSplitBrainWatcher([
      { workloadId: 'db', siteId: 'A', kind: 'postgres', host: '127.0.0.1', port: pair.primary.port },
      { workloadId: 'db', siteId: 'B', kind: 'postgres', host: '127.0.0.1', port: pair.standby.port },
    ]);
    const writableSamples = (site: string) => w.recent('db').filter((s) => s.siteId === site && s.writable).length;
    try {
      await eventually(() => writableSamples('A') >= 5, 20_000, 50);
      expect(writableSamples('B')).toBe(0); // a standby refuses writes: not counted
      pair.primary.stop('immediate');
      await pair.standby.sql('SELECT pg_promote()');
      await eventually(() => writableSamples('B') >= 5, 20_000, 50);
      const { samples, elapsedMs } = w.stats();
      console.log(`[split-brain watcher] ${JSON.stringify(samples)} samples in ${elapsedMs} ms`);
      await w.assertNoSplitBrain('across a stop and a promotion');
    } finally {
      await w.stop();
      pair.stop();
    }
  });

  it('simulated copies: two live writable role files overlap; a primary whose agent died, or a fenced one, does not', async () => {
    const file = (site: string, role: string, pid: number) => {
      const f = join(dir, `orders@${site}.json`);
      writeFileSync(f, JSON.stringify({ role, writable: role === 'primary', pid, at: Date.now() }));
      return f;
    };
    const copies: WatchedCopy[] = [
      { workloadId: 'orders', siteId: 'A', kind: 'sim', roleFile: file('A', 'primary', process.pid) },
      { workloadId: 'orders', siteId: 'B', kind: 'sim', roleFile: file('B', 'primary', process.pid) },
    ];
    const w = await startSplitBrainWatcher(copies);
    try {
      await eventually(() => w.stats().samples['orders@A']! >= 3, 5_000, 20);
      await expect(w.assertNoSplitBrain('with two live primaries')).rejects.toThrow(/orders: A and B writable together[^\n]*\n\s+A .*WRITABLE: primary writable \(pid \d+\)\n\s+B .*WRITABLE/);
      // The old primary's agent died (its last file still says primary), then B was promoted.
      file('A', 'primary', 2 ** 22 + 12345); // beyond pid_max: a dead agent's copy
      file('B', 'replica', process.pid);
      const samplesOfA = () => w.stats().samples['orders@A']!;
      const before = samplesOfA();
      await eventually(() => samplesOfA() >= before + 3, 5_000, 20);
      w.takeOverlaps(); // what was left of the two live primaries above
      file('B', 'primary', process.pid);
      await eventually(() => samplesOfA() >= before + 6, 5_000, 20);
      await w.assertNoSplitBrain('with the old primary’s agent dead');
      file('A', 'fenced', process.pid);
      await eventually(() => samplesOfA() >= before + 9, 5_000, 20);
      await w.assertNoSplitBrain('with the old primary fenced');
    } finally {
      await w.stop();
    }
  });
});
