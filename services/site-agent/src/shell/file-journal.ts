import { closeSync, existsSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CommandResult } from '@drc/contracts';
import { applyJournalRecord, emptyAgentState, JournalRecordSchema, type JournalRecord } from '../agent/journal';
import type { AgentJournal, AgentState } from '../agent/ports';

export type { AgentState } from '../agent/ports';
export type { JournaledResult } from '../agent/journal';

export const STATE_FILE = 'agent-state.jsonl';
/** The last lease renewal, a hint beside the journal (see AgentState.leaseRenewedAt): rewritten on every renewal, never synced. */
export const LEASE_FILE = 'agent-lease.json';

/**
 * The production agent journal (the AgentJournal port): what an agent must not forget across a
 * crash or restart: the newest epoch seen per workload (the fencing token: forgetting it would
 * let a deposed coordinator's stale command through) and the results of recent commands (a
 * re-sent command id is answered, never run twice).
 *
 * An append-only journal of JSON lines, each synced to disk before the agent acts on it; on
 * open it is replayed and compacted (rewritten to the current state, atomically by rename).
 * A torn last line from a crash mid-write is ignored: it was never acted upon.
 */
export class AgentStateJournal implements AgentJournal {
  private fd: number;
  private lines = 0;
  /** A lease renewal being written, and the newest one waiting for it. */
  private leaseWriting = false;
  private leasePending: number | undefined;

  private constructor(
    private readonly file: string,
    private readonly maxResults: number,
    readonly state: AgentState,
  ) {
    this.fd = -1;
    this.compact();
  }

  /** Opens (creating) the journal in `dir` and replays it. Throws naming the file and line when it is corrupt. */
  static open(dir: string, maxResults = 10_000): AgentStateJournal {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, STATE_FILE);
    const state: AgentState = emptyAgentState();
    if (existsSync(file)) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (line.trim() === '') return;
        let rec: JournalRecord;
        try {
          rec = JournalRecordSchema.parse(JSON.parse(line));
        } catch (e) {
          if (i === lines.length - 1) return; // torn final write: never acted upon
          throw new Error(`${file}:${i + 1}: not an agent state record (${(e as Error).message.split('\n')[0]}); move the file away to start with no memory`, { cause: e });
        }
        applyJournalRecord(state, rec, maxResults);
      });
    }
    const leaseRenewedAt = readLeaseHint(join(dir, LEASE_FILE));
    if (leaseRenewedAt !== undefined) state.leaseRenewedAt = leaseRenewedAt;
    return new AgentStateJournal(file, maxResults, state);
  }

  /** Records (durably) that `epoch` is the newest seen for the workload. Call before acting. */
  recordEpoch(workloadId: string, epoch: number): void {
    if ((this.state.epochs.get(workloadId) ?? -1) >= epoch) return;
    this.append({ t: 'epoch', workloadId, epoch });
  }

  /** Records (durably) a command's result. */
  recordResult(result: CommandResult): void {
    this.append({ t: 'result', result });
  }

  /**
   * Remembers a lease renewal in LEASE_FILE (tmp + rename, so a reader sees the old or the new
   * one, never half). Not synced and not awaited: it runs every heartbeat, and a renewal lost to
   * a host crash only makes the next run fence sooner. Writes never overlap; the newest waits.
   */
  recordLeaseRenewal(at: number): void {
    this.state.leaseRenewedAt = at;
    this.leasePending = at;
    if (!this.leaseWriting) void this.writeLeaseHint();
  }

  private async writeLeaseHint(): Promise<void> {
    this.leaseWriting = true;
    const file = join(dirname(this.file), LEASE_FILE);
    try {
      while (this.leasePending !== undefined) {
        const at = this.leasePending;
        this.leasePending = undefined;
        await writeFile(`${file}.tmp`, JSON.stringify({ leaseRenewedAt: at }), { mode: 0o600 });
        await rename(`${file}.tmp`, file);
      }
    } catch {
      /* a hint: without it a restarted run counts its lease from its start, as before */
    } finally {
      this.leaseWriting = false;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private append(rec: JournalRecord): void {
    applyJournalRecord(this.state, rec, this.maxResults);
    writeSync(this.fd, `${JSON.stringify(rec)}\n`);
    fdatasyncSync(this.fd);
    if (++this.lines > 4 * (this.maxResults + this.state.epochs.size) + 1000) this.compact();
  }

  /** Rewrites the journal to the current state (tmp file, fsync, rename, fsync the directory). */
  private compact(): void {
    this.close();
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    const body: string[] = [];
    for (const [workloadId, epoch] of this.state.epochs) body.push(JSON.stringify({ t: 'epoch', workloadId, epoch }));
    for (const result of this.state.results.values()) body.push(JSON.stringify({ t: 'result', result }));
    writeSync(fd, body.length ? `${body.join('\n')}\n` : '');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.file);
    const dirFd = openSync(dirname(this.file), 'r');
    fsyncSync(dirFd);
    closeSync(dirFd);
    this.lines = body.length;
    this.fd = openSync(this.file, 'a', 0o600);
  }
}

/** Not pure (reads a file). The lease renewal hint, or undefined when absent or unreadable (never an error: it is a hint). */
function readLeaseHint(file: string): number | undefined {
  try {
    const v = (JSON.parse(readFileSync(file, 'utf8')) as { leaseRenewedAt?: unknown }).leaseRenewedAt;
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
