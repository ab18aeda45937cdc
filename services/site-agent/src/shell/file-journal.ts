import { closeSync, existsSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CommandResult } from '@drc/contracts';
import { applyJournalRecord, emptyAgentState, JournalRecordSchema, type JournalRecord } from '../agent/journal';
import type { AgentJournal, AgentState } from '../agent/ports';

export type { AgentState } from '../agent/ports';
export type { JournaledResult } from '../agent/journal';

export const STATE_FILE = 'agent-state.jsonl';

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
