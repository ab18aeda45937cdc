import { DecisionSchema, WorkloadInputSchema, WorkloadSetupSchema, type Actor, type Decision, type WorkloadInput } from '@drc/contracts';
import { viewWorkload, type WorkloadSnapshot } from '@drc/statecharts';
import { foldWorkloadStream, INPUT_TYPES, STATE_CHANGED, TIMER_CANCELLED, TIMER_SCHEDULED, WORKLOAD_REGISTERED, type HistoryEvent } from './fold';

/** A stored event as the store or the API hands it out: what the fold reads, plus when it was recorded. */
export interface TimedEvent extends HistoryEvent {
  recordedAt?: Date | string | undefined;
}

/** Pure. When the store recorded the event (ms), if it says. */
export function recordedMs(e: TimedEvent): number | undefined {
  if (e.recordedAt === undefined) return undefined;
  const t = e.recordedAt instanceof Date ? e.recordedAt.getTime() : Date.parse(e.recordedAt);
  return Number.isNaN(t) ? undefined : t;
}

/** Pure. The machine's time of the event (the input's `at`), else when it was recorded. */
export function eventAt(e: TimedEvent): number | undefined {
  const at = e.metadata?.at;
  return typeof at === 'number' ? at : recordedMs(e);
}

/** Pure. The time ranges and `show --at` go by: when recorded, else the machine's time. */
function filterTime(e: TimedEvent): number | undefined {
  const r = recordedMs(e);
  if (r !== undefined) return r;
  const at = e.metadata?.at;
  return typeof at === 'number' ? at : undefined;
}

/** Pure. Events recorded within [from, to] (either end open when undefined); events without a time are kept. */
export function eventsBetween<E extends TimedEvent>(events: ReadonlyArray<E>, range: { from?: number | undefined; to?: number | undefined }): E[] {
  return events.filter((e) => {
    const t = filterTime(e);
    if (t === undefined) return true;
    return (range.from === undefined || t >= range.from) && (range.to === undefined || t <= range.to);
  });
}

export interface WorkloadStateAt {
  /** Last stream position folded. */
  position: number;
  recordedAt?: number | undefined;
  snapshot: WorkloadSnapshot;
  view: ReturnType<typeof viewWorkload>;
}

/**
 * Pure. The workload as its history says it was at `at`: the stream's events recorded at or
 * before `at` (the leading run of them: a stream is recorded in order), folded through the
 * statechart. Undefined when nothing was recorded by then. Throws like foldWorkloadStream.
 */
export function stateAt(events: ReadonlyArray<TimedEvent>, at: number): WorkloadStateAt | undefined {
  let n = 0;
  while (n < events.length) {
    const t = filterTime(events[n]!);
    if (t !== undefined && t > at) break;
    n++;
  }
  if (n === 0) return undefined;
  const prefix = events.slice(0, n);
  const folded = foldWorkloadStream(prefix);
  return { position: folded.version, recordedAt: filterTime(prefix[n - 1]!), snapshot: folded.snapshot, view: viewWorkload(folded.snapshot) };
}

// ---------------------------------------------------------------- timeline

export type HistoryEntryKind = 'registration' | 'observation' | 'operator' | 'timer' | 'decision' | 'command' | 'result' | 'state' | 'other';

/** One line of a workload's readable history. */
export interface HistoryEntry {
  position: number;
  /** The machine's time of the event (the input's recorded time). */
  at?: number | undefined;
  /** When the store recorded it (ISO-8601). */
  recordedAt?: string | undefined;
  kind: HistoryEntryKind;
  type: string;
  /** Who caused it: `operator:alice`, `agent:A`, `coordinator:c1`, `system:…`. */
  actor?: string | undefined;
  summary: string;
  /** Reasons, candidates, evidence: one line each. */
  details: string[];
}

const NOT_DECISIONS: ReadonlySet<string> = new Set([WORKLOAD_REGISTERED, STATE_CHANGED, TIMER_SCHEDULED, TIMER_CANCELLED]);

const actorText = (a: Actor | undefined) => (a ? `${a.kind}:${a.id}` : undefined);

function isActor(v: unknown): v is Actor {
  return !!v && typeof v === 'object' && typeof (v as Actor).kind === 'string' && typeof (v as Actor).id === 'string';
}

const secs = (ms: number) => `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : ms < 10_000 ? 2 : 1)} s`;

function describeInput(input: WorkloadInput, issued: Map<string, number>): Pick<HistoryEntry, 'kind' | 'summary' | 'details'> {
  switch (input.type) {
    case 'PRIMARY_FAILED':
      return {
        kind: 'observation',
        summary: `primary ${input.siteId} failed (${input.reason})${input.leaseExpiredAt !== undefined ? `, lease expired at ${new Date(input.leaseExpiredAt).toISOString()}` : ''}`,
        details: input.evidence.map((e) => `evidence: ${e}`),
      };
    case 'PRIMARY_RECOVERED':
      return { kind: 'observation', summary: `primary ${input.siteId} healthy again`, details: [] };
    case 'REPLICA_STATUS': {
      const parts = [`${input.siteId}`, input.role ?? 'copy', input.healthy ? 'healthy' : 'unhealthy'];
      if (input.position !== undefined) parts.push(`position ${input.position}`);
      if (input.lagSeconds !== undefined) parts.push(`lag ${input.lagSeconds} s`);
      return { kind: 'observation', summary: parts.join(' '), details: [] };
    }
    case 'SITE_STATUS':
      return {
        kind: 'observation',
        summary: `site ${input.siteId} ${input.status}${input.leaseExpiredAt !== undefined ? ` (lease expired at ${new Date(input.leaseExpiredAt).toISOString()})` : ''}`,
        details: input.evidence.map((e) => `evidence: ${e}`),
      };
    case 'COMMAND_RESULT': {
      const sent = issued.get(input.commandId);
      const took = sent !== undefined ? ` after ${secs(Math.max(0, input.at - sent))}` : '';
      return {
        kind: 'result',
        summary: `${input.action} on ${input.siteId}: ${input.status}${took}${input.reason ? ` (${input.reason})` : ''}`,
        details: [`command ${input.commandId}`, ...Object.entries(input.detail).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)],
      };
    }
    case 'OPERATOR_COMMAND':
      return {
        kind: 'operator',
        summary: `${input.command}${input.targetSite ? ` --to ${input.targetSite}` : ''} by ${input.actor.kind} ${input.actor.id}${input.reason ? `: ${input.reason}` : ''}`,
        details: [`request ${input.requestId}`],
      };
    case 'TIMER_FIRED':
      return { kind: 'timer', summary: `timer ${input.timerId} fired`, details: [] };
  }
}

function describeDecision(d: Decision): Pick<HistoryEntry, 'kind' | 'summary' | 'details'> {
  switch (d.type) {
    case 'FailoverStarted':
      return {
        kind: 'decision',
        summary: `${d.mode} failover from ${d.fromSite} started: ${d.reason}${d.actor ? ` (by ${d.actor.kind} ${d.actor.id})` : ''}`,
        details: d.evidence.map((e) => `evidence: ${e}`),
      };
    case 'ApprovalRequired':
      return { kind: 'decision', summary: `approval required: ${d.reason}${d.candidate ? ` (candidate ${d.candidate})` : ''}`, details: [] };
    case 'ReplicaSelected':
      return {
        kind: 'decision',
        summary: d.chosen ? `replica ${d.chosen} selected from ${d.candidates.length} candidate${d.candidates.length === 1 ? '' : 's'}` : `no replica selected (${d.candidates.length} candidates)`,
        details: d.candidates.map((c) => `candidate ${c.siteId}: ${c.eligible ? 'eligible' : 'not eligible'}; ${c.reasons.join(', ')}`),
      };
    case 'CommandIssued': {
      const c = d.command;
      const params = Object.keys(c.params).length ? [`params ${JSON.stringify(c.params)}`] : [];
      return { kind: 'command', summary: `${c.action} → ${c.siteId} (epoch ${c.epoch}, timeout ${secs(c.timeoutMs)})`, details: [`command ${c.commandId}`, ...params] };
    }
    case 'RoguePrimaryDetected':
      return { kind: 'decision', summary: `${d.siteId} reports itself primary but is not the primary at epoch ${d.epoch}: fencing it`, details: d.evidence.map((e) => `evidence: ${e}`) };
    case 'FenceConfirmed':
      return { kind: 'decision', summary: `${d.siteId} fenced (${d.by === 'agent' ? 'confirmed by its agent' : 'lease expired'})`, details: d.detail ? [d.detail] : [] };
    case 'PromoteConfirmed':
      return { kind: 'decision', summary: `${d.siteId} promoted (epoch ${d.epoch})${d.position ? ` at position ${d.position}` : ''}`, details: [] };
    case 'EpochAdvanced':
      return { kind: 'decision', summary: `epoch ${d.from} → ${d.to} (primary ${d.primarySite})`, details: [] };
    case 'FailoverCompleted':
      return {
        kind: 'decision',
        summary: `failover completed ${d.fromSite} → ${d.toSite}, epoch ${d.epoch}, RTO ${secs(d.rtoMs)}${d.dataLossSeconds !== undefined ? `, data loss ${d.dataLossSeconds} s` : ''}`,
        details: [],
      };
    case 'FailoverAborted':
      return { kind: 'decision', summary: `failover aborted: ${d.reason}`, details: [] };
    case 'Escalated':
      return { kind: 'decision', summary: `escalated at ${d.step}: ${d.reason}`, details: [] };
    case 'FailoverSuppressed':
      return { kind: 'decision', summary: `failover suppressed: ${d.reason}`, details: [] };
    case 'ReprotectStarted':
      return { kind: 'decision', summary: `reprotect of ${d.siteId} started`, details: [] };
    case 'ReprotectCompleted':
      return { kind: 'decision', summary: `${d.siteId} is a replica again`, details: [] };
    case 'DrillStarted':
      return { kind: 'decision', summary: `drill started on ${d.siteId}`, details: [] };
    case 'DrillCompleted':
      return { kind: 'decision', summary: `drill on ${d.siteId} ${d.result}`, details: d.detail ? [d.detail] : [] };
    case 'OperatorCommandRejected':
      return { kind: 'decision', summary: `operator command ${d.command} rejected: ${d.reason}`, details: [`request ${d.requestId}`] };
  }
}

function describeOther(e: TimedEvent): Pick<HistoryEntry, 'kind' | 'summary' | 'details'> {
  const data = (e.data ?? {}) as Record<string, unknown>;
  if (e.type === WORKLOAD_REGISTERED) {
    const s = WorkloadSetupSchema.safeParse(e.data);
    if (!s.success) return { kind: 'registration', summary: 'registered', details: [] };
    const p = s.data.policy;
    return {
      kind: 'registration',
      summary: `registered: primary ${s.data.primarySite}, sites ${s.data.sites.map((x) => `${x.siteId}(${x.priority})`).join(' ')}, epoch ${s.data.epoch}`,
      details: [`policy: ${p.failoverMode}, RPO ${p.rpoSeconds} s, max data loss ${p.maxDataLossSeconds} s, debounce ${p.debounceMs} ms, cooldown ${p.cooldownSeconds} s`],
    };
  }
  if (e.type === STATE_CHANGED) return { kind: 'state', summary: `${String(data.from)} → ${String(data.to)} (primary ${String(data.primarySite)}, epoch ${String(data.epoch)})`, details: [] };
  if (e.type === TIMER_SCHEDULED) return { kind: 'timer', summary: `timer ${String(data.timerId)} armed for ${secs(Number(data.delayMs))}`, details: [] };
  if (e.type === TIMER_CANCELLED) return { kind: 'timer', summary: `timer ${String(data.timerId)} cancelled`, details: [] };
  return { kind: 'other', summary: e.type, details: [] };
}

/**
 * Pure. A readable history of one workload stream: observations (agent inputs), operator
 * actions with their actor, decisions with reasons and candidates, commands and their results,
 * state changes. One entry per event, in stream order; events that do not parse are shown as
 * `other` rather than dropped (an audit shows everything). Never throws.
 */
export function buildTimeline(events: ReadonlyArray<TimedEvent>): HistoryEntry[] {
  const issued = new Map<string, number>();
  const out: HistoryEntry[] = [];
  for (const e of events) {
    let described: Pick<HistoryEntry, 'kind' | 'summary' | 'details'>;
    const input = INPUT_TYPES.has(e.type) ? WorkloadInputSchema.safeParse(e.data) : undefined;
    const decision = input || NOT_DECISIONS.has(e.type) ? undefined : DecisionSchema.safeParse(e.data);
    const at = eventAt(e);
    if (input?.success) described = describeInput(input.data, issued);
    else if (decision?.success) {
      described = describeDecision(decision.data);
      if (decision.data.type === 'CommandIssued' && at !== undefined) issued.set(decision.data.command.commandId, at);
    } else described = describeOther(e);
    const metaActor = e.metadata?.actor;
    const actor = input?.success && input.data.type === 'OPERATOR_COMMAND' ? input.data.actor : isActor(metaActor) ? metaActor : undefined;
    const r = recordedMs(e);
    out.push({
      position: e.position,
      ...(at !== undefined ? { at } : {}),
      ...(r !== undefined ? { recordedAt: new Date(r).toISOString() } : {}),
      kind: described.kind,
      type: e.type,
      ...(actor ? { actor: actorText(actor) } : {}),
      summary: described.summary,
      details: described.details,
    });
  }
  return out;
}
