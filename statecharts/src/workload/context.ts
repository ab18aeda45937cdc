import type { Actor, Decision, Policy, WorkloadInput } from '@drc/contracts';
import type { SiteFacts } from './select-replica';

/** Bumped whenever a change to the machine can change a decision (replay checks it). */
export const STATECHART_VERSION = 'workload@4';

export interface SiteState extends SiteFacts {
  role: 'primary' | 'replica' | 'fenced' | 'stopped' | 'unknown';
  leaseExpiredAt?: number | undefined;
}

/** The move in progress: an unplanned failover, a planned switchover/failback, or a reprotect. */
export interface Operation {
  kind: 'failover' | 'switchover' | 'reprotect';
  fromSite: string;
  startedAt: number;
  reason: string;
  evidence: string[];
  actor?: Actor | undefined;
  leaseExpiredAt?: number | undefined;
  /** The site to promote (chosen by selection, or named by an operator). */
  target?: string | undefined;
  /** An operator named the target or approved the data loss: selection may exceed maxDataLoss. */
  allowDataLoss: boolean;
  dataLossSeconds?: number | undefined;
  attempt: number;
  /** Id of the command the current step waits for. */
  commandId?: string | undefined;
}

/** A fence sent to a copy that reported itself primary without being the primary (invariant 1). */
export interface RogueFence {
  epoch: number;
  /** Counts this site's fences at this epoch, so each has its own command id. */
  attempt: number;
  commandId: string;
  issuedAt: number;
  /** Its result came back (done or not): a later report of a writable role is fenced again. */
  answered: boolean;
}

export interface DrillContext {
  siteId: string;
  seq: number;
  commandId?: string | undefined;
}

export interface WorkloadContext {
  workloadId: string;
  /** Fencing token: incremented by every role change; every command carries it. */
  epoch: number;
  primarySite: string;
  sites: Record<string, SiteState>;
  policy: Policy;
  /** Recorded time of the last input (the machine's only notion of now). */
  now: number;
  /** Counts operations, so command ids stay unique even when an epoch is reused. */
  opSeq: number;
  primaryFailed: boolean;
  primaryFailure?: { reason: string; evidence: string[]; leaseExpiredAt?: number | undefined; at: number } | undefined;
  cooldownAcknowledged: boolean;
  approvalFor?: 'failover' | 'dataLoss' | undefined;
  lastTransitionAt?: number | undefined;
  lastFailoverAt?: number | undefined;
  /** The primary before the last move (failback goes back there). */
  previousPrimary?: string | undefined;
  op?: Operation | undefined;
  /** Set by an unplanned failover; with autoFailback the workload moves back once in sync. */
  failbackDue: boolean;
  escalation?: { step: string; reason: string } | undefined;
  drill?: DrillContext | undefined;
  drillSeq: number;
  /** The last fence of a rogue primary, by site (a side command: no operation waits for it). */
  rogueFences?: Record<string, RogueFence> | undefined;
  /**
   * The site a promotion advanced the current epoch for (the primary of this epoch), also when
   * the move then escalated before it completed; cleared when an epoch is advanced for another
   * reason (a reprotect keeps `primarySite`).
   */
  epochPrimary?: string | undefined;
}

/** Events the machine reacts to: recorded inputs, plus its own delayed events fed back with `at`. */
export type WorkloadEvent = Exclude<WorkloadInput, { type: 'TIMER_FIRED' }> | { type: `xstate.after.${string}`; at: number };

/** Pure. A `decide` action: the runtime records the decision, then acts on it. */
export const decide = (d: Decision) => ({ type: 'decide' as const, params: d });

/** Pure. Deterministic command id: a re-dispatch after a crash is deduplicated by the agent. */
export function commandIdFor(ctx: WorkloadContext, action: string, siteId: string, attempt = ctx.op?.attempt ?? 0): string {
  return `${ctx.workloadId}:${ctx.epoch}:${ctx.opSeq}:${action}:${siteId}:${attempt}`;
}

/** Pure. Lag above the RPO, or a copy down, somewhere other than the primary. */
export function isDegraded(ctx: WorkloadContext): boolean {
  return Object.values(ctx.sites).some(
    (s) => s.siteId !== ctx.primarySite && (s.lost || !s.healthy || (s.lagSeconds !== undefined && s.lagSeconds > ctx.policy.rpoSeconds)),
  );
}

/** Pure. Anti-flap: an automatic failover happened within the cooldown and no operator acknowledged it. */
export function inCooldown(ctx: WorkloadContext): boolean {
  return ctx.lastFailoverAt !== undefined && ctx.now - ctx.lastFailoverAt < ctx.policy.cooldownSeconds * 1000 && !ctx.cooldownAcknowledged;
}

/**
 * Pure. What a replica report changes: the copy's health, role, position and lag, and the
 * clock. The machine's REPLICA_STATUS handler and the fast path of `decideWorkload` both use it,
 * so the two cannot drift apart.
 */
export function withReplicaStatus(ctx: WorkloadContext, event: Extract<WorkloadEvent, { type: 'REPLICA_STATUS' }>): Partial<WorkloadContext> {
  const prev = ctx.sites[event.siteId];
  if (!prev) return { now: event.at };
  return {
    now: event.at,
    sites: {
      ...ctx.sites,
      [event.siteId]: {
        ...prev,
        healthy: event.healthy,
        ...(event.role !== undefined ? { role: event.role } : {}),
        ...(event.position !== undefined ? { position: event.position } : {}),
        ...(event.lagSeconds !== undefined ? { lagSeconds: event.lagSeconds } : {}),
      },
    },
  };
}

/**
 * Pure. Invariant 1 holds at any time, not only during a move: a report of a writable role from a
 * copy that is not the primary at the current epoch calls for a fence at once, unless one sent at
 * this epoch is still within its fence timeout. The target of an operation in progress is left to
 * it: a failover's or switchover's promotion target becomes the primary, and a reprotect's target
 * is being demoted by the reprotect command already sent (a fence after it, run after it by the
 * agent, would stop the replica it makes; should the reprotect fail, the copy is fenced on its next
 * report). The primary being moved away from is the move's own business: it stays `primarySite`
 * until the move completes. `ctx` is the context with the report already applied. The machine's
 * REPLICA_STATUS handler and the fast path both use it.
 */
export function rogueFenceDue(ctx: WorkloadContext, event: Extract<WorkloadEvent, { type: 'REPLICA_STATUS' }>): boolean {
  if (event.role !== 'primary' || event.siteId === ctx.primarySite || !ctx.sites[event.siteId]) return false;
  if (ctx.op?.target === event.siteId && !ctx.escalation) return false; // an escalated operation acts no more
  if (ctx.epochPrimary === event.siteId) return false; // promoted at this epoch: the only copy that may serve, even if its move escalated
  const last = ctx.rogueFences?.[event.siteId];
  if (!last || last.epoch !== ctx.epoch || last.answered) return true;
  return event.at - last.issuedAt >= ctx.policy.fenceTimeoutMs;
}

/** Pure. The time carried by any event (timer events get theirs from the runtime). */
export function timeOf(event: { at?: number }, ctx: WorkloadContext): number {
  return typeof event.at === 'number' ? event.at : ctx.now;
}

/** Pure. Sites that may become primary in a planned move: reachable, healthy, in sync. */
export function inSync(ctx: WorkloadContext, siteId: string): boolean {
  const s = ctx.sites[siteId];
  return !!s && !s.lost && s.healthy && s.role === 'replica' && (s.lagSeconds ?? Infinity) === 0;
}
