import { z } from 'zod';
import { ReplicationPositionSchema } from './agent-messages';
import { StoredEventBodySchema } from './api';
import { EpochMsSchema, SiteIdSchema, WorkloadIdSchema } from './ids';
import { ActorSchema, CandidateSchema, WorkloadViewSchema } from './workload';

/*
 * Audit and history reads: time ranges, state at a past moment, per-failover reports
 * (GET /api/v1/workloads/:id/{events,state,failovers/:n/report}).
 */

/** What a time parameter accepts (for --help texts and API docs). */
export const TIME_SPEC_HELP = 'an ISO-8601 time (2026-05-01T12:00:00Z; UTC unless it has an offset), epoch milliseconds, or a time ago: -2h, 30m, 90s, 1d, 500ms';

const RELATIVE = /^-?(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** Pure. Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
}

/** Pure. An ISO-8601 date or date-time in ms since the epoch (UTC unless it carries an offset); undefined when invalid. */
function parseIso(s: string): number | undefined {
  const m = ISO.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
  const monthDays = [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (month < 1 || month > 12 || day < 1 || day > monthDays[month - 1]! || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  let offsetMin = 0;
  const zone = m[8];
  if (zone && zone.toUpperCase() !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
    offsetMin = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3]));
  }
  return daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute - offsetMin) * 60 + second) * 1000 + ms;
}

/**
 * Pure. Milliseconds since the epoch for a time spec: ISO-8601 (UTC unless it carries an
 * offset), epoch milliseconds (digits only), or a duration ago (`-2h` and `2h` both mean two
 * hours before `now`). Undefined when the text is not a time.
 */
export function resolveTimeSpec(spec: string, now: number): number | undefined {
  const s = spec.trim();
  if (/^\d{1,16}$/.test(s)) return Number(s);
  const rel = RELATIVE.exec(s);
  if (rel) return Math.round(now - Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS]);
  return parseIso(s);
}

/** A time parameter as text; resolve it with resolveTimeSpec against the caller's clock. */
export const TimeSpecSchema = z.string().refine((s) => resolveTimeSpec(s, 0) !== undefined, { message: `expected ${TIME_SPEC_HELP}` });

/** GET /api/v1/workloads/:id/events: events recorded in [from, to], from a stream position on, at most `limit`. */
export const WorkloadEventsQuerySchema = z.strictObject({
  from: TimeSpecSchema.optional(),
  to: TimeSpecSchema.optional(),
  fromPosition: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().positive().max(10_000).optional(),
});
export type WorkloadEventsQuery = z.infer<typeof WorkloadEventsQuerySchema>;

/** The events page: `next` is the stream position to ask for (fromPosition) when more events match. */
export const WorkloadEventsPageSchema = z.object({
  workloadId: WorkloadIdSchema,
  events: z.array(StoredEventBodySchema),
  next: z.number().int().positive().optional(),
});

/** GET /api/v1/workloads/:id/state?at=T (absent: everything recorded so far). */
export const WorkloadStateQuerySchema = z.strictObject({ at: TimeSpecSchema.optional() });

/** The workload as its history says it was at `at`: the stream folded up to `position`. */
export const WorkloadStateAtSchema = z.object({
  workloadId: WorkloadIdSchema,
  at: z.string(),
  /** Last stream position folded (events recorded at or before `at`). */
  position: z.number().int().positive(),
  /** When that last event was recorded. */
  recordedAt: z.string().optional(),
  view: WorkloadViewSchema,
});
export type WorkloadStateAt = z.infer<typeof WorkloadStateAtSchema>;

/** Path parameter of GET /api/v1/workloads/:id/failovers/:n/report: 1-based failover number, or `latest`. */
export const FailoverNumberSchema = z.union([z.literal('latest'), z.coerce.number().int().positive()]);

export const FailoverPhaseSchema = z.object({
  /**
   * decision: detection → decision (debounce, approval). A failover then selects (decision → a
   * replica chosen, incl. waiting for a promotable one or a data-loss approval) before it fences
   * (chosen → fenced); a planned move fences (quiesce, demote), then selects (fenced → promote sent).
   */
  phase: z.enum(['decision', 'fence', 'select', 'promote', 'redirect', 'verify']),
  startedAt: EpochMsSchema,
  endedAt: EpochMsSchema.optional(),
  durationMs: z.number().nonnegative().optional(),
});

/** One failover (or planned switchover) reconstructed from a workload's stream. */
export const FailoverReportSchema = z.object({
  workloadId: WorkloadIdSchema,
  /** 1-based among the workload's failovers (every FailoverStarted, whatever became of it). */
  number: z.number().int().positive(),
  of: z.number().int().positive(),
  mode: z.enum(['unplanned', 'planned']),
  outcome: z.enum(['completed', 'aborted', 'escalated', 'inProgress']),
  outcomeReason: z.string().optional(),
  fromSite: SiteIdSchema,
  toSite: SiteIdSchema.optional(),
  epoch: z.number().int().nonnegative().optional(),
  reason: z.string(),
  /** Who moved it: the operator who asked (or approved), else the coordinator that decided. */
  actor: ActorSchema,
  /** Facts that justified the move: the failure observations and the site-loss evidence. */
  evidence: z.array(z.string()),
  detectedAt: EpochMsSchema.optional(),
  decidedAt: EpochMsSchema,
  completedAt: EpochMsSchema.optional(),
  phases: z.array(FailoverPhaseSchema),
  /** Decision → verified on the new primary, as the statechart measured it. */
  rtoMs: z.number().nonnegative().optional(),
  /** Detection → verified. */
  totalMs: z.number().nonnegative().optional(),
  fencedBy: z.enum(['agent', 'leaseExpiry']).optional(),
  dataLoss: z.object({
    /** Replication lag of the promoted copy when it was chosen. */
    seconds: z.number().nonnegative().optional(),
    oldPrimaryPosition: ReplicationPositionSchema.optional(),
    promotedPosition: ReplicationPositionSchema.optional(),
    /** Old primary's last recorded position minus the promoted copy's (0 when the copy was ahead). */
    positionGap: ReplicationPositionSchema.optional(),
  }),
  candidates: z.array(CandidateSchema),
  commands: z.array(
    z.object({
      commandId: z.string(),
      action: z.string(),
      siteId: SiteIdSchema,
      issuedAt: EpochMsSchema,
      resultAt: EpochMsSchema.optional(),
      status: z.string().optional(),
      reason: z.string().optional(),
      latencyMs: z.number().nonnegative().optional(),
    }),
  ),
  operatorActions: z.array(z.object({ at: EpochMsSchema, command: z.string(), actor: ActorSchema, reason: z.string().optional(), rejected: z.string().optional() })),
  escalations: z.array(z.object({ at: EpochMsSchema, step: z.string(), reason: z.string() })),
  /** Stream positions of the FailoverStarted decision and of the event that ended the failover. */
  streamPositions: z.object({ start: z.number().int().positive(), end: z.number().int().positive().optional() }),
});
export type FailoverReport = z.infer<typeof FailoverReportSchema>;
