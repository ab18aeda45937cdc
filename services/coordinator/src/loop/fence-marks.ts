import { INPUT_EVENT_TYPES, type CommandAction } from '@drc/contracts';

/**
 * Which copies of one workload may have lost their writes to drc: a fence (or another command
 * that stops writes) was sent to the site and is unanswered, or was confirmed done. A machine
 * state alone does not say it: `escalated` after a fence that timed out unanswered (it may yet
 * have been carried out) or after a confirmed fence and a failed promotion leaves the old
 * primary as `primarySite`, reporting `primary` until its agent's next report.
 */
export type FenceMarks = Map<string, { pending: Set<string>; done: boolean }>;

/** The form kept in workload snapshots. */
export type PersistedFenceMarks = Array<{ siteId: string; pending: string[]; done: boolean }>;

/** Commands after which the copy takes no writes (if carried out). */
const STOPS_WRITES: ReadonlySet<CommandAction> = new Set<CommandAction>(['fence', 'quiesce', 'demote', 'stop']);
/** Commands that, done, give the copy its role afresh (writable again, or a replica). */
const GIVES_ROLE: ReadonlySet<CommandAction> = new Set<CommandAction>(['unfence', 'promote', 'reprotect']);

interface IssuedData {
  command: { commandId: string; siteId: string; action: CommandAction };
}
interface ResultData {
  commandId: string;
  siteId: string;
  action: CommandAction;
  status: string;
}

/**
 * Pure (mutates `marks`). Applies one recorded workload event, the same whether it was just
 * appended or read back from the stream, so a restarted coordinator knows what the one before
 * knew. Marks end when the site is given a role again (unfence, promote or reprotect done), when
 * a write-stopping command is answered not done with nothing else pending or done, or when the
 * workload is back in `protected`/`degraded` (every move finished or was called off; from then
 * on the copies' own reports say what they are).
 */
export function noteFenceEvent(marks: FenceMarks, type: string, data: unknown): void {
  if (type === 'CommandIssued') {
    const c = (data as IssuedData).command;
    if (!STOPS_WRITES.has(c.action)) return;
    const m = marks.get(c.siteId) ?? { pending: new Set<string>(), done: false };
    m.pending.add(c.commandId);
    marks.set(c.siteId, m);
  } else if (type === 'FenceConfirmed') {
    const siteId = (data as { siteId: string }).siteId;
    const m = marks.get(siteId) ?? { pending: new Set<string>(), done: false };
    m.done = true;
    marks.set(siteId, m);
  } else if (type === INPUT_EVENT_TYPES.COMMAND_RESULT) {
    const r = data as ResultData;
    if (STOPS_WRITES.has(r.action)) {
      const m = marks.get(r.siteId) ?? { pending: new Set<string>(), done: false };
      m.pending.delete(r.commandId);
      if (r.status === 'done') m.done = true; // a late answer too: the copy stopped, whatever the machine made of it
      if (m.done || m.pending.size > 0) marks.set(r.siteId, m);
      else marks.delete(r.siteId);
    } else if (GIVES_ROLE.has(r.action) && r.status === 'done') marks.delete(r.siteId);
  } else if (type === 'WorkloadStateChanged') {
    const to = (data as { to: string }).to;
    if (to === 'protected' || to === 'degraded') marks.clear();
  }
}

/** Pure. The sites with a write-stopping command pending or done, sorted. */
export function fencedSites(marks: FenceMarks): string[] {
  return [...marks.entries()].filter(([, m]) => m.done || m.pending.size > 0).map(([s]) => s).sort();
}

/** Pure. */
export function persistFenceMarks(marks: FenceMarks): PersistedFenceMarks {
  return [...marks.entries()].map(([siteId, m]) => ({ siteId, pending: [...m.pending], done: m.done }));
}

/** Pure. */
export function restoreFenceMarks(persisted: PersistedFenceMarks): FenceMarks {
  return new Map(persisted.map((p) => [p.siteId, { pending: new Set(p.pending), done: p.done }]));
}
