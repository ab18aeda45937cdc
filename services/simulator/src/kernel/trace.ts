import { createHash, type Hash } from 'node:crypto';

/** One line of the trace: what happened, where, at which virtual time (ms since the start). */
export interface TraceEntry {
  t: number;
  proc: string;
  kind: string;
  detail: string;
}

/**
 * Every event of a run, in order, with its virtual time. The hash covers every entry's bytes,
 * so two runs with the same hash did the same things at the same times; only the last
 * `keep` entries are held in memory (for the failure timeline), unless `keepAll`.
 */
export class Trace {
  private readonly hash: Hash = createHash('sha256');
  private readonly ring: TraceEntry[] = [];
  private head = 0;
  count = 0;
  readonly all: TraceEntry[] | undefined;

  constructor(
    private readonly keep = 400,
    keepAll = false,
  ) {
    this.all = keepAll ? [] : undefined;
  }

  /**
   * Lines not yet fed to the hash: sha256 over the concatenation is the same however it is cut,
   * and one `update` per line (one per scheduler step) was a measurable share of a run's CPU.
   */
  private pending = '';

  record(t: number, proc: string, kind: string, detail = ''): void {
    this.pending += `${t}|${proc}|${kind}|${detail}\n`;
    if (this.pending.length > 16_384) this.flush();
    const e = { t, proc, kind, detail };
    this.count++;
    this.all?.push(e);
    if (this.ring.length < this.keep) this.ring.push(e);
    else {
      this.ring[this.head] = e;
      this.head = (this.head + 1) % this.keep;
    }
  }

  /** The last `n` entries, oldest first. */
  tail(n = this.keep): TraceEntry[] {
    const ordered = [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)];
    return ordered.slice(-n);
  }

  private flush(): void {
    this.hash.update(this.pending);
    this.pending = '';
  }

  /** The hash of everything recorded so far (the trace can go on after). */
  digest(): string {
    this.flush();
    return this.hash.copy().digest('hex');
  }
}

/** Pure. A trace excerpt as a timeline, one line per entry: `+12.345s  proc  kind  detail`. */
export function renderTimeline(entries: ReadonlyArray<TraceEntry>): string {
  return entries.map((e) => `+${(e.t / 1000).toFixed(3).padStart(10)}s  ${e.proc.padEnd(14)} ${e.kind.padEnd(18)} ${e.detail}`).join('\n');
}
