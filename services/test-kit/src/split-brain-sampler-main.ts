/**
 * The split-brain sampler as a process: `node --import tsx split-brain-sampler-main.ts` with
 * the copies as JSON in DRC_WATCH_COPIES; prints one JSON sample per line; stops when its stdin
 * closes (its parent went away) or on SIGTERM.
 */
import { runSampler, type WatchedCopy } from './split-brain-sampler';

const copies = JSON.parse(process.env.DRC_WATCH_COPIES ?? '[]') as WatchedCopy[];
const stop = runSampler(copies, (s) => process.stdout.write(`${JSON.stringify(s)}\n`), {
  intervalMs: Number(process.env.DRC_WATCH_INTERVAL_MS ?? 80),
});
let stopping = false;
const end = () => {
  if (stopping) return;
  stopping = true;
  void stop().then(() => process.exit(0));
};
process.once('SIGTERM', end);
process.stdin.on('end', end);
process.stdin.resume();
