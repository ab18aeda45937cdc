import { DecisionSchema, FailoverRecordSchema, WorkloadInputSchema, type Actor, type FailoverRecord, type FailoverReport } from '@drc/contracts';
import { INPUT_TYPES } from './fold';
import { eventAt, recordedMs, type TimedEvent } from './timeline';

type Phase = FailoverReport['phases'][number];
type CommandLine = FailoverReport['commands'][number];

interface Detection {
  siteId: string;
  at: number;
  evidence: string[];
}

/** The failover being reconstructed, with the times the phases are cut from. */
interface Open {
  report: Omit<FailoverReport, 'of' | 'phases'>;
  commands: Map<string, CommandLine>;
  fencedAt?: number;
  /** An unplanned failover's replica was chosen (before any fence: invariant 1a). */
  selectedAt?: number;
  promoteIssuedAt?: number;
  promotedAt?: number;
  redirectIssuedAt?: number;
  redirectCommandIds: Set<string>;
  redirectedAt?: number;
}

function isActor(v: unknown): v is Actor {
  return !!v && typeof v === 'object' && typeof (v as Actor).kind === 'string' && typeof (v as Actor).id === 'string';
}

function phase(name: Phase['phase'], start: number | undefined, end: number | undefined): Phase[] {
  if (start === undefined) return [];
  return [{ phase: name, startedAt: start, ...(end !== undefined ? { endedAt: end, durationMs: Math.max(0, end - start) } : {}) }];
}

function gap(oldPos: string | undefined, newPos: string | undefined): string | undefined {
  if (oldPos === undefined || newPos === undefined) return undefined;
  const d = BigInt(oldPos) - BigInt(newPos);
  return (d > 0n ? d : 0n).toString();
}

function close(o: Open): Omit<FailoverReport, 'of'> {
  const r = o.report;
  const phases: Phase[] = [
    ...(r.detectedAt !== undefined ? phase('decision', r.detectedAt, r.decidedAt) : []),
    // A failover chooses its replica before it fences (invariant 1a); a planned move's target is named.
    ...(r.mode === 'unplanned'
      ? [...phase('select', r.decidedAt, o.selectedAt), ...phase('fence', o.selectedAt, o.fencedAt)]
      : [...phase('fence', r.decidedAt, o.fencedAt), ...phase('select', o.fencedAt, o.promoteIssuedAt)]),
    ...phase('promote', o.promoteIssuedAt, o.promotedAt),
    ...phase('redirect', o.redirectIssuedAt, o.redirectedAt),
    ...phase('verify', o.redirectedAt ?? o.promotedAt, r.completedAt),
  ];
  const positionGap = gap(r.dataLoss.oldPrimaryPosition, r.dataLoss.promotedPosition);
  return {
    ...r,
    evidence: [...new Set(r.evidence)],
    phases,
    commands: [...o.commands.values()],
    ...(r.completedAt !== undefined ? { totalMs: Math.max(0, r.completedAt - (r.detectedAt ?? r.decidedAt)) } : {}),
    dataLoss: { ...r.dataLoss, ...(positionGap !== undefined ? { positionGap } : {}) },
  };
}

/**
 * Pure. Every failover and planned switchover of one workload stream, reconstructed from the
 * recorded events alone: when the failure was first observed, when the move was decided and by
 * whom, how long fencing, selection, promotion, redirection and verification took, the measured
 * RTO, the data given up (lag, and the gap between the old primary's last recorded position and
 * the promoted copy's), the evidence, the candidates, every command with its result, and the
 * operators' actions. Numbered from 1 in stream order; a failover still running is `inProgress`.
 * Events that do not parse are skipped. Never throws.
 */
export function failoverReports(workloadId: string, events: ReadonlyArray<TimedEvent>): FailoverReport[] {
  const done: Array<Omit<FailoverReport, 'of'>> = [];
  const positions = new Map<string, string>();
  let detection: Detection | undefined;
  let operatorActions: FailoverReport['operatorActions'] = [];
  const operatorByRequest = new Map<string, FailoverReport['operatorActions'][number]>();
  let open: Open | undefined;
  const finish = (outcome: FailoverReport['outcome'], position: number, reason?: string) => {
    if (!open) return;
    open.report.outcome = outcome;
    if (reason !== undefined) open.report.outcomeReason = reason;
    open.report.streamPositions.end = position;
    done.push(close(open));
    open = undefined;
    detection = undefined;
    operatorActions = [];
  };

  for (const e of events) {
    const at = eventAt(e) ?? 0;
    if (INPUT_TYPES.has(e.type)) {
      const p = WorkloadInputSchema.safeParse(e.data);
      if (!p.success) continue;
      const input = p.data;
      if (input.type === 'REPLICA_STATUS' && input.position !== undefined) positions.set(input.siteId, input.position);
      else if (input.type === 'PRIMARY_FAILED') {
        if (!detection || detection.siteId !== input.siteId) detection = { siteId: input.siteId, at: input.at, evidence: [] };
        detection.evidence.push(...input.evidence);
      } else if (input.type === 'SITE_STATUS' && input.status === 'lost') {
        if (!detection || detection.siteId !== input.siteId) detection = { siteId: input.siteId, at: input.at, evidence: [] };
        detection.evidence.push(`site ${input.siteId} lost${input.leaseExpiredAt !== undefined ? ` (lease expired at ${new Date(input.leaseExpiredAt).toISOString()})` : ''}`, ...input.evidence);
      } else if ((input.type === 'PRIMARY_RECOVERED' || (input.type === 'SITE_STATUS' && input.status === 'up')) && !open && detection?.siteId === input.siteId) {
        detection = undefined;
        operatorActions = [];
      } else if (input.type === 'OPERATOR_COMMAND') {
        const action = { at: input.at, command: input.command, actor: input.actor, ...(input.reason !== undefined ? { reason: input.reason } : {}) };
        operatorByRequest.set(input.requestId, action);
        (open ? open.report.operatorActions : operatorActions).push(action);
      } else if (input.type === 'COMMAND_RESULT' && open) {
        const c = open.commands.get(input.commandId);
        if (c) {
          c.resultAt = input.at;
          c.status = input.status;
          c.latencyMs = Math.max(0, input.at - c.issuedAt);
          if (input.reason !== undefined) c.reason = input.reason;
          if (open.redirectCommandIds.has(input.commandId) && (input.status === 'done' || /^unsupported/.test(input.reason ?? ''))) open.redirectedAt = input.at;
        }
      }
      continue;
    }
    const p = DecisionSchema.safeParse(e.data);
    if (!p.success) continue;
    const d = p.data;
    if (d.type === 'OperatorCommandRejected') {
      const a = operatorByRequest.get(d.requestId);
      if (a) a.rejected = d.reason;
      continue;
    }
    if (d.type === 'FailoverStarted') {
      if (open) finish('aborted', e.position, 'superseded by another failover');
      const metaActor = e.metadata?.actor;
      const actor: Actor = d.actor ?? (isActor(metaActor) ? metaActor : { kind: 'coordinator', id: String(e.metadata?.coordinatorId ?? 'unknown') });
      const detected = detection?.siteId === d.fromSite ? detection : undefined;
      const oldPos = positions.get(d.fromSite);
      open = {
        report: {
          workloadId,
          number: done.length + 1,
          mode: d.mode,
          outcome: 'inProgress',
          fromSite: d.fromSite,
          reason: d.reason,
          actor,
          evidence: [...d.evidence, ...(detected?.evidence ?? [])],
          ...(detected ? { detectedAt: detected.at } : {}),
          decidedAt: at,
          dataLoss: oldPos !== undefined ? { oldPrimaryPosition: oldPos } : {},
          candidates: [],
          commands: [],
          operatorActions,
          escalations: [],
          streamPositions: { start: e.position },
        },
        commands: new Map(),
        redirectCommandIds: new Set(),
      };
      operatorActions = [];
      continue;
    }
    if (!open) continue;
    const r = open.report;
    switch (d.type) {
      case 'CommandIssued': {
        const c = d.command;
        if (!open.commands.has(c.commandId)) open.commands.set(c.commandId, { commandId: c.commandId, action: c.action, siteId: c.siteId, issuedAt: at });
        if (c.action === 'promote') open.promoteIssuedAt ??= at;
        if (c.action === 'redirect') {
          open.redirectIssuedAt ??= at;
          open.redirectCommandIds.add(c.commandId);
        }
        break;
      }
      case 'FenceConfirmed':
        open.fencedAt ??= at;
        r.fencedBy = d.by;
        break;
      case 'ReplicaSelected':
        r.candidates = d.candidates;
        if (d.chosen !== undefined) {
          open.selectedAt ??= at;
          r.toSite = d.chosen;
          const pos = d.candidates.find((c) => c.siteId === d.chosen)?.position;
          if (pos !== undefined) r.dataLoss.promotedPosition = pos;
          else delete r.dataLoss.promotedPosition;
        }
        break;
      case 'ApprovalRequired':
        r.evidence.push(`approval required: ${d.reason}`);
        break;
      case 'EpochAdvanced':
        r.epoch = d.to;
        break;
      case 'PromoteConfirmed':
        open.promotedAt ??= at;
        r.epoch = d.epoch;
        if (d.position !== undefined) r.dataLoss.promotedPosition = d.position;
        break;
      case 'FailoverCompleted':
        r.toSite = d.toSite;
        r.epoch = d.epoch;
        r.rtoMs = d.rtoMs;
        r.completedAt = at;
        if (d.dataLossSeconds !== undefined) r.dataLoss.seconds = d.dataLossSeconds;
        finish('completed', e.position);
        break;
      case 'FailoverAborted':
        finish('aborted', e.position, d.reason);
        break;
      case 'Escalated':
        r.escalations.push({ at, step: d.step, reason: d.reason });
        finish('escalated', e.position, d.reason);
        break;
      default:
        break;
    }
  }
  const all = open ? [...done, close(open)] : done;
  return all.map((r) => ({ ...r, of: all.length }));
}

/**
 * Pure. The completed failovers of one workload stream (its `FailoverCompleted` decisions), oldest
 * first, as the failover history lists them. Never throws; a decision that does not parse is skipped.
 */
export function failoverRecords(workloadId: string, events: ReadonlyArray<TimedEvent>): FailoverRecord[] {
  const out: FailoverRecord[] = [];
  for (const e of events) {
    if (e.type !== 'FailoverCompleted') continue;
    const d = (e.data ?? {}) as Record<string, unknown>;
    const parsed = FailoverRecordSchema.safeParse({
      workloadId,
      fromSite: d.fromSite,
      toSite: d.toSite,
      epoch: d.epoch,
      startedAt: d.startedAt,
      completedAt: typeof e.metadata?.at === 'number' ? e.metadata.at : recordedMs(e),
      rtoMs: d.rtoMs,
      dataLossSeconds: d.dataLossSeconds,
      streamPosition: e.position,
    });
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}
