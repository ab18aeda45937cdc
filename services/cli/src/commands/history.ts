import { EventMetadataSchema, FailoverNumberSchema, TIME_SPEC_HELP, type FailoverReport } from '@drc/contracts';
import { buildTimeline, type HistoryEntry, type HistoryEntryKind, type TimedEvent } from '@drc/history';
import { InvalidArgumentError, type Command } from 'commander';
import type { ApiClient } from '../api-client';
import { colour, csv, table, type Colour } from '../output';
import { clientFor, printJson, withApiOptions, type ApiOptions } from './api-options';
import { timeOption } from './time-option';
import { renderFailovers } from './workloads';

/**
 * Not pure (reads the API, page by page). A workload's readable history for events recorded
 * within [from, to]: the code path of `drc history` (and of bench/history.ts).
 */
export async function loadTimeline(api: ApiClient, workloadId: string, range: { from?: string | undefined; to?: string | undefined } = {}): Promise<HistoryEntry[]> {
  const events: TimedEvent[] = [];
  let fromPosition: number | undefined;
  do {
    const page = await api.eventsPage(workloadId, { ...range, fromPosition, limit: 10_000 });
    for (const e of page.events) {
      const metadata = EventMetadataSchema.safeParse(e.metadata);
      events.push({ position: e.position, type: e.type, data: e.data, recordedAt: e.recordedAt, ...(metadata.success ? { metadata: metadata.data } : {}) });
    }
    fromPosition = page.next;
  } while (fromPosition !== undefined);
  return buildTimeline(events);
}

const KIND_COLOUR: Record<HistoryEntryKind, Colour> = {
  registration: 'bold',
  observation: 'grey',
  operator: 'magenta',
  timer: 'grey',
  decision: 'cyan',
  command: 'blue',
  result: 'blue',
  state: 'yellow',
  other: 'grey',
};

const stamp = (e: HistoryEntry) => (e.recordedAt ?? (e.at !== undefined ? new Date(e.at).toISOString() : '')).replace('T', ' ');

/** Pure. Entries worth reading: timer bookkeeping (armed, cancelled) only with `all`. */
export function visibleEntries(entries: ReadonlyArray<HistoryEntry>, all = false): HistoryEntry[] {
  return all ? [...entries] : entries.filter((e) => e.type !== 'TimerScheduled' && e.type !== 'TimerCancelled');
}

/** Pure. The timeline as text: one line per entry (time, position, kind, what happened, who), its details indented below. */
export function renderTimeline(entries: ReadonlyArray<HistoryEntry>): string {
  if (entries.length === 0) return 'no events recorded in that range';
  const width = Math.max(...entries.map((e) => String(e.position).length));
  const lines: string[] = [];
  for (const e of entries) {
    const who = e.actor && (e.kind === 'operator' || e.kind === 'observation') ? colour('grey', `  [${e.actor}]`) : '';
    lines.push(`${colour('grey', stamp(e))}  #${String(e.position).padEnd(width)}  ${colour(KIND_COLOUR[e.kind], e.kind.padEnd(12))} ${e.summary}${who}`);
    for (const d of e.details) lines.push(`${' '.repeat(stamp(e).length + width + 20)}${colour('grey', d)}`);
  }
  return lines.join('\n');
}

/** Pure. The timeline as CSV (RFC 4180), details joined with "; ". */
export function timelineCsv(entries: ReadonlyArray<HistoryEntry>): string {
  return csv(
    ['position', 'recordedAt', 'at', 'kind', 'type', 'actor', 'summary', 'details'],
    entries.map((e) => [String(e.position), e.recordedAt ?? '', e.at !== undefined ? new Date(e.at).toISOString() : '', e.kind, e.type, e.actor ?? '', e.summary, e.details.join('; ')]),
  );
}

const iso = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' '));
const secs = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);
const OUTCOME_COLOUR: Record<FailoverReport['outcome'], Colour> = { completed: 'green', aborted: 'yellow', escalated: 'red', inProgress: 'cyan' };

/** Pure. One failover report as text. */
export function renderReport(r: FailoverReport): string {
  const out: string[] = [];
  const to = r.toSite ?? '?';
  out.push(`${colour('bold', `failover ${r.number} of ${r.of}`)}  ${r.workloadId}  ${r.fromSite} → ${to}  ${colour(OUTCOME_COLOUR[r.outcome], r.outcome)}  (${r.mode}${r.epoch !== undefined ? `, epoch ${r.epoch}` : ''})`);
  if (r.outcomeReason) out.push(`outcome: ${r.outcomeReason}`);
  out.push(`by ${r.actor.kind} ${r.actor.id}: ${r.reason}`);
  out.push(`detected  ${iso(r.detectedAt)}`, `decided   ${iso(r.decidedAt)}`, `completed ${iso(r.completedAt)}`, '');
  out.push(
    table(
      ['PHASE', 'STARTED', 'DURATION'],
      r.phases.map((p) => [p.phase + (p.phase === 'fence' && r.fencedBy ? ` (${r.fencedBy === 'agent' ? 'by agent' : 'lease expired'})` : ''), iso(p.startedAt), p.durationMs === undefined ? colour('yellow', 'not finished') : secs(p.durationMs)]),
    ),
  );
  out.push('', `RTO ${colour('bold', secs(r.rtoMs))}  (decision → verified)   total ${secs(r.totalMs)}  (detection → verified)`);
  const dl = r.dataLoss;
  const gap = dl.positionGap !== undefined ? `; position gap ${dl.positionGap} (${r.fromSite} at ${dl.oldPrimaryPosition}, ${to} at ${dl.promotedPosition})` : '';
  out.push(`data loss ${dl.seconds !== undefined ? `${dl.seconds} s of replication lag` : 'not measured'}${gap}`);
  if (r.evidence.length) out.push('', 'evidence:', ...r.evidence.map((e) => `  - ${e}`));
  if (r.candidates.length) {
    out.push('', 'candidates:', table(['SITE', 'ELIGIBLE', 'POSITION', 'LAG s', 'REASONS'], r.candidates.map((c) => [c.siteId, c.eligible ? 'yes' : 'no', c.position ?? '-', c.lagSeconds === undefined ? '-' : String(c.lagSeconds), c.reasons.join(', ')])).replace(/^/gm, '  '));
  }
  if (r.commands.length) {
    out.push('', 'commands:', table(['ACTION', 'SITE', 'SENT', 'RESULT', 'AFTER'], r.commands.map((c) => [c.action, c.siteId, iso(c.issuedAt), c.status ? `${c.status}${c.reason ? ` (${c.reason})` : ''}` : colour('yellow', 'no answer'), secs(c.latencyMs)])).replace(/^/gm, '  '));
  }
  if (r.operatorActions.length) out.push('', 'operator actions:', ...r.operatorActions.map((a) => `  ${iso(a.at)}  ${a.command} by ${a.actor.kind} ${a.actor.id}${a.reason ? `: ${a.reason}` : ''}${a.rejected ? colour('red', ` (rejected: ${a.rejected})`) : ''}`));
  if (r.escalations.length) out.push('', 'escalations:', ...r.escalations.map((e) => `  ${iso(e.at)}  ${e.step}: ${e.reason}`));
  return out.join('\n');
}

function parseFailoverNumber(s: string): number | 'latest' {
  const n = FailoverNumberSchema.safeParse(s);
  if (!n.success) throw new InvalidArgumentError('expected a failover number (1, 2, …) or "latest"');
  return n.data;
}

interface HistoryOptions extends ApiOptions {
  from?: string;
  to?: string;
  csv?: boolean;
  all?: boolean;
}

/** `drc history [WORKLOAD]`, `drc failovers [WORKLOAD]`, `drc report WORKLOAD [N]`. */
export function registerHistoryCommands(program: Command): void {
  withApiOptions(
    program
      .command('history')
      .argument('[workload]', 'the workload whose timeline to show (none: the failover history of every workload)')
      .description('a workload\'s recorded history: observations, decisions with reasons and candidates, commands and results, operator actions with the actor')
      .option('--from <time>', 'only events recorded at or after this time', timeOption)
      .option('--to <time>', 'only events recorded at or before this time', timeOption)
      .option('--csv', 'print CSV')
      .option('--all', 'also list timer bookkeeping (timers armed and cancelled)')
      .addHelpText('after', `\nTimes: ${TIME_SPEC_HELP}.\nExamples:\n  drc history orders-db --from -2h\n  drc history orders-db --from 2026-05-01T12:00:00Z --to 2026-05-01T12:30:00Z --csv > incident.csv`),
  ).action(async (id: string | undefined, opts: HistoryOptions) => {
    const api = clientFor(opts);
    if (id === undefined) {
      const failovers = await api.failovers();
      if (opts.json) printJson({ failovers });
      else process.stdout.write(`${renderFailovers(failovers)}\n`);
      return;
    }
    const range = { from: opts.from, to: opts.to };
    const [entries, failovers] = await Promise.all([loadTimeline(api, id, range), opts.json ? api.failovers(id) : Promise.resolve([])]);
    const shown = visibleEntries(entries, opts.all);
    // `failovers` stays in the JSON for scripts written against the older `drc history ID --json`.
    if (opts.json) printJson({ workloadId: id, from: opts.from ?? null, to: opts.to ?? null, entries: shown, failovers });
    else if (opts.csv) process.stdout.write(timelineCsv(shown));
    else process.stdout.write(`${renderTimeline(shown)}\n`);
  });

  withApiOptions(program.command('failovers').argument('[workload]').description('failover history (measured RTO, achieved data loss) of one workload or of all')).action(async (id: string | undefined, opts: ApiOptions) => {
    const failovers = await clientFor(opts).failovers(id);
    if (opts.json) printJson({ failovers });
    else process.stdout.write(`${renderFailovers(failovers)}\n`);
  });

  withApiOptions(
    program
      .command('report')
      .argument('<workload>')
      .argument('[n]', 'failover number, 1 = the first (default: the latest)', parseFailoverNumber)
      .description('one failover from the recorded history: detection, decision, fence, promote, redirect and verify times, RTO, data loss, evidence, candidates, commands, actor'),
  ).action(async (id: string, n: number | 'latest' | undefined, opts: ApiOptions) => {
    const report = await clientFor(opts).failoverReport(id, n ?? 'latest');
    if (opts.json) printJson(report);
    else process.stdout.write(`${renderReport(report)}\n`);
  });
}
