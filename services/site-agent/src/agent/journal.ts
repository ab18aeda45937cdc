import { z } from 'zod';
import { AgentIncarnationSchema, CommandResultSchema, type CommandResult } from '@drc/contracts';
import type { AgentJournal, AgentState } from './ports';

/**
 * The agent journal's records and how they change the state: shared by the production file
 * journal (`../shell/file-journal.ts`) and the in-memory one below (no state dir, the simulator).
 */

/** A result as journaled: the sending run's incarnation is no part of it (journals from before incarnations have none). */
export const JournaledResultSchema = CommandResultSchema.extend({ incarnation: AgentIncarnationSchema.optional() });
export type { JournaledResult } from './ports';

export const JournalRecordSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('epoch'), workloadId: z.string(), epoch: z.number().int().nonnegative() }),
  z.strictObject({ t: z.literal('result'), result: JournaledResultSchema }),
]);
export type JournalRecord = z.infer<typeof JournalRecordSchema>;

/** Pure. An empty agent state. */
export function emptyAgentState(): AgentState {
  return { epochs: new Map(), results: new Map() };
}

/** Not pure: applies one record to `state` (epochs only rise; the oldest result goes past `maxResults`). */
export function applyJournalRecord(state: AgentState, rec: JournalRecord, maxResults: number): void {
  if (rec.t === 'epoch') {
    if ((state.epochs.get(rec.workloadId) ?? -1) < rec.epoch) state.epochs.set(rec.workloadId, rec.epoch);
    return;
  }
  state.results.delete(rec.result.commandId);
  state.results.set(rec.result.commandId, rec.result);
  if (state.results.size > maxResults) state.results.delete(state.results.keys().next().value!);
}

/**
 * A journal kept in memory. Without a state dir it is forgotten with the process; the simulator
 * passes the same `state` object to every run of one agent, as the disk that survives its crashes.
 */
export class MemoryAgentJournal implements AgentJournal {
  constructor(
    readonly state: AgentState = emptyAgentState(),
    private readonly maxResults = 10_000,
  ) {}

  recordEpoch(workloadId: string, epoch: number): void {
    applyJournalRecord(this.state, { t: 'epoch', workloadId, epoch }, this.maxResults);
  }

  recordResult(result: CommandResult): void {
    applyJournalRecord(this.state, { t: 'result', result }, this.maxResults);
  }
}
