import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CopySample, SamplerOptions, WatchedCopy } from './split-brain-sampler';

export type { CopySample, WatchedCopy } from './split-brain-sampler';

/**
 * The split-brain watcher of the e2e suite (issue 17): samples every copy of every workload at
 * 10 Hz or more, from outside drc and from a process of its own (split-brain-sampler.ts says how each
 * kind of copy is judged writable), and finds any moment when two copies of one workload
 * accepted writes: two writable samples of different copies whose windows overlap.
 */
export interface SplitBrainOverlap {
  workloadId: string;
  /** The two writable samples whose windows overlap. */
  samples: [CopySample, CopySample];
}

export interface SplitBrainWatcher {
  readonly copies: readonly WatchedCopy[];
  /** Not pure. Overlaps found since the last call (each is reported once). */
  takeOverlaps(): SplitBrainOverlap[];
  /** How many samples each copy (`workload@site`) got, and over how long (from the first sample). */
  stats(): { samples: Record<string, number>; elapsedMs: number };
  /** The newest samples of every copy of a workload, oldest first (for failure messages). */
  recent(workloadId: string): CopySample[];
  /**
   * Not pure. Waits until every copy has been sampled after the call (at most ~3 s), then
   * throws an error that prints every overlap since the last check, with the samples of the
   * copies around it; resolves quietly when there was none.
   */
  assertNoSplitBrain(when: string): Promise<void>;
  stop(): Promise<void>;
}

const RECENT = 40;
const sampler = join(dirname(fileURLToPath(import.meta.url)), 'split-brain-sampler-main.ts');
const key = (c: { workloadId: string; siteId: string }) => `${c.workloadId}@${c.siteId}`;

/** Not pure: starts the sampler process and resolves once every copy has been sampled once. */
export async function startSplitBrainWatcher(copies: readonly WatchedCopy[], opts: SamplerOptions = {}): Promise<SplitBrainWatcher> {
  const startedAt = Date.now();
  const counts = new Map<string, number>(copies.map((c) => [key(c), 0]));
  const recent = new Map<string, CopySample[]>(copies.map((c) => [key(c), []]));
  const lastWritable = new Map<string, CopySample>();
  const lastSample = new Map<string, CopySample>();
  const heldFrom = new Map<string, number>();
  const newest = new Map<string, number>();
  const overlaps: SplitBrainOverlap[] = [];
  const byWorkload = new Map<string, WatchedCopy[]>();
  for (const c of copies) byWorkload.set(c.workloadId, [...(byWorkload.get(c.workloadId) ?? []), c]);
  const waiters = new Set<() => void>();

  let firstSampleAt: number | undefined;
  const record = (s: CopySample) => {
    firstSampleAt ??= s.start;
    const k = key(s);
    counts.set(k, (counts.get(k) ?? 0) + 1);
    newest.set(k, s.start);
    const r = recent.get(k);
    if (r) {
      r.push(s);
      if (r.length > RECENT) r.shift();
    }
    if (s.writable) {
      // Writable at two samples in a row: writable in between too (a copy does not go
      // read-only and back within 100 ms), so a short overlap between two ticks is not missed.
      const prev = lastSample.get(k);
      const held: CopySample = prev?.writable ? { ...s, start: Math.min(s.start, heldFrom.get(k) ?? prev.start) } : s;
      heldFrom.set(k, held.start);
      for (const other of byWorkload.get(s.workloadId) ?? []) {
        if (other.siteId === s.siteId) continue;
        const o = lastWritable.get(key(other));
        if (o && o.start <= held.end && held.start <= o.end) overlaps.push({ workloadId: s.workloadId, samples: [o, held] });
      }
      lastWritable.set(k, held);
    }
    lastSample.set(k, s);
    for (const w of [...waiters]) w();
  };
  /** Resolves when every copy has a sample that started at or after `t`, or after `timeoutMs`. */
  const sampledSince = (t: number, timeoutMs: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        if (![...counts.keys()].every((k) => (newest.get(k) ?? 0) >= t)) return;
        finish();
      };
      const finish = () => {
        waiters.delete(done);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      waiters.add(done);
      done();
    });

  const child =
    copies.length === 0
      ? undefined
      : spawn(process.execPath, ['--import', 'tsx', sampler], {
          cwd: dirname(sampler),
          env: { ...process.env, DRC_WATCH_COPIES: JSON.stringify(copies), DRC_WATCH_INTERVAL_MS: String(opts.intervalMs ?? 80) },
          stdio: ['pipe', 'pipe', 'inherit'],
        });
  let buffered = '';
  child?.stdout?.on('data', (buf: Buffer) => {
    buffered += buf.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) record(JSON.parse(l) as CopySample);
  });
  const exited = child ? new Promise<void>((r) => child.once('close', () => r())) : Promise.resolve();
  let stopping = false;
  /** A watcher whose sampler died watches nothing: that must fail loudly, not pass quietly. */
  const checkAlive = () => {
    if (child && !stopping && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`split-brain sampler exited (${child.exitCode ?? child.signalCode}): nothing is being watched (its stderr is in the test output)`);
    }
  };
  if (child) {
    await Promise.race([sampledSince(startedAt, 30_000), exited]);
    checkAlive();
  }

  const w: SplitBrainWatcher = {
    copies,
    takeOverlaps: () => overlaps.splice(0),
    stats: () => ({ samples: Object.fromEntries(counts), elapsedMs: Date.now() - (firstSampleAt ?? Date.now()) }),
    recent: (workloadId) =>
      (byWorkload.get(workloadId) ?? [])
        .flatMap((c) => recent.get(key(c)) ?? [])
        .sort((a, b) => a.start - b.start),
    async assertNoSplitBrain(when) {
      checkAlive();
      if (child && child.exitCode === null) await sampledSince(Date.now(), 3_000);
      const found = w.takeOverlaps();
      if (found.length === 0) return;
      const at = (t: number) => new Date(t).toISOString().slice(11, 23);
      const line = (s: CopySample) => `${s.siteId} ${at(s.start)}–${at(s.end)} ${s.writable ? 'WRITABLE' : 'not writable'}: ${s.detail}`;
      const workloads = [...new Set(found.map((o) => o.workloadId))];
      throw new Error(
        [
          `split brain ${when}: ${found.length} overlapping writable samples (${workloads.join(', ')})`,
          ...workloads.flatMap((id) => {
            const mine = found.filter((o) => o.workloadId === id);
            const sites = [...new Set(mine.flatMap((o) => o.samples.map((x) => x.siteId)))].sort();
            const from = Math.min(...mine.map((o) => Math.max(o.samples[0].start, o.samples[1].start)));
            const to = Math.max(...mine.map((o) => Math.min(o.samples[0].end, o.samples[1].end)));
            return [
              `  ${id}: ${sites.join(' and ')} writable together, first seen ${at(from)}, last ${at(to)} (${mine.length} overlaps); the first:`,
              `    ${line(mine[0]!.samples[0])}`,
              `    ${line(mine[0]!.samples[1])}`,
              `  newest samples of ${id}:`,
              ...w.recent(id).slice(-12).map((x) => `    ${line(x)}`),
            ];
          }),
        ].join('\n'),
      );
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      stopping = true;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
  return w;
}
