import type { CommandAction, Policy, WorkloadSetup } from '@drc/contracts';
import { DEFAULT_POLICY } from '@drc/contracts';
import { setup } from 'xstate';
import { commandIdFor, decide, inCooldown, inSync, isDegraded, rogueFenceDue, timeOf, withReplicaStatus, type Operation, type SiteState, type WorkloadContext, type WorkloadEvent } from './context';
import { selectReplica } from './select-replica';

export { STATECHART_VERSION, type SiteState, type WorkloadContext, type WorkloadEvent } from './context';

type TimeoutDelay = 'fenceTimeout' | 'promoteTimeout' | 'verifyTimeout';
const PROTECTION_COMMANDS = new Set(['failover', 'switchover', 'failback', 'reprotect', 'approve', 'reject', 'pause', 'resume', 'acknowledge']);
const DRILL_COMMANDS = new Set(['drillStart', 'drillCleanup']);

const s = setup({
  types: { context: {} as WorkloadContext, events: {} as WorkloadEvent, input: {} as WorkloadSetup },
  actions: {
    /** Carried out by the runtime: record the decision, then act on it. */
    decide: (_, _params: unknown) => {},
  },
  delays: {
    debounce: ({ context }) => context.policy.debounceMs,
    fenceTimeout: ({ context }) => context.policy.fenceTimeoutMs,
    promoteTimeout: ({ context }) => context.policy.promoteTimeoutMs,
    verifyTimeout: ({ context }) => context.policy.verifyTimeoutMs,
    /** How long a failover waits for a promotable replica before giving up, nothing fenced. */
    replicaWait: ({ context }) => context.policy.replicaWaitMs ?? DEFAULT_POLICY.replicaWaitMs ?? 0,
    /** Until the old primary's lease expiry plus the margin: then it has fenced itself. */
    leaseMargin: ({ context }) => {
      const expired = context.op?.leaseExpiredAt;
      return expired === undefined ? context.policy.fenceTimeoutMs : Math.max(0, expired + context.policy.fenceMarginMs - context.now);
    },
  },
  guards: {
    primarySiteEvent: ({ context, event }) => 'siteId' in event && event.siteId === context.primarySite,
    degraded: ({ context }) => isDegraded(context),
    notDegraded: ({ context }) => !isDegraded(context),
    leaseExpired: ({ context }) => context.op?.leaseExpiredAt !== undefined,
  },
});

const cmd = (name: string) => ({ event }: { event: WorkloadEvent }) => event.type === 'OPERATOR_COMMAND' && event.command === name;
const isResult = (context: WorkloadContext, event: WorkloadEvent) => event.type === 'COMMAND_RESULT' && event.commandId === context.op?.commandId;

// ---------------------------------------------------------------- shared actions

const escalate = (step: string, reason: string | ((c: WorkloadContext) => string)) =>
  s.enqueueActions(({ context, event, enqueue }) => {
    const text = typeof reason === 'string' ? reason : reason(context);
    enqueue(decide({ type: 'Escalated', step, reason: text }));
    enqueue.assign({ escalation: { step, reason: text }, now: timeOf(event as { at?: number }, context), lastTransitionAt: timeOf(event as { at?: number }, context) });
  });

/** An operator command the current state does not accept (the runtime reports the state with it). */
const reject = s.enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'OPERATOR_COMMAND') return;
  const why = context.op ? `a ${context.op.kind} of ${context.workloadId} is in progress` : `not applicable to ${context.workloadId} in its current state`;
  enqueue(decide({ type: 'OperatorCommandRejected', requestId: event.requestId, command: event.command, reason: `${event.command}: ${why}` }));
  enqueue.assign({ now: event.at });
});

const acknowledge = () =>
  s.enqueueActions(({ context, event, enqueue }) => enqueue.assign({ now: timeOf(event as { at?: number }, context), cooldownAcknowledged: true, escalation: undefined, op: undefined, approvalFor: undefined }));

/**
 * A replica report: its facts are taken and, when the copy reports itself primary without being
 * the primary at the current epoch (`rogueFenceDue`), it is fenced at once, at the current epoch,
 * whatever the state (a move in progress, failedOver with autoReprotect off, paused): invariant 1
 * holds all the time. The fence is a side command no step waits for, so it disturbs no operation
 * in progress; its result is only recorded (`rogueFenceAnswered`).
 */
const takeReplicaStatus = s.enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'REPLICA_STATUS') return;
  const facts = withReplicaStatus(context, event);
  if (!rogueFenceDue({ ...context, ...facts }, event)) return enqueue.assign(facts);
  const { epoch, workloadId } = context;
  const last = context.rogueFences?.[event.siteId];
  const attempt = last && last.epoch === epoch ? last.attempt + 1 : 0;
  const commandId = `${workloadId}:${epoch}:rogue:fence:${event.siteId}:${attempt}`;
  const evidence = [
    `${event.siteId} reports ${workloadId} as ${event.healthy ? 'a healthy' : 'an unhealthy'} primary${event.position !== undefined ? ` at position ${event.position}` : ''}; the primary at epoch ${epoch} is ${context.primarySite}`,
    ...(context.op ? [`a ${context.op.kind} from ${context.op.fromSite}${context.op.target ? ` to ${context.op.target}` : ''} is in progress`] : []),
    ...(last && last.epoch === epoch ? [last.answered ? `fenced before at this epoch (${last.commandId}), yet writable again` : `the fence ${last.commandId} was not answered within ${context.policy.fenceTimeoutMs} ms`] : []),
  ];
  enqueue(decide({ type: 'RoguePrimaryDetected', siteId: event.siteId, epoch, evidence }));
  enqueue(decide({ type: 'CommandIssued', command: { commandId, siteId: event.siteId, action: 'fence', epoch, timeoutMs: context.policy.fenceTimeoutMs, params: { reason: `not the primary at epoch ${epoch}` } } }));
  enqueue.assign({ ...facts, rogueFences: { ...context.rogueFences, [event.siteId]: { epoch, attempt, commandId, issuedAt: event.at, answered: false } } });
});

/** The result of a rogue primary's fence, from its own site: recorded; the copy's next report tells its role. */
const isRogueFenceResult = ({ context, event }: { context: WorkloadContext; event: WorkloadEvent }) =>
  event.type === 'COMMAND_RESULT' && context.rogueFences?.[event.siteId]?.commandId === event.commandId;
const rogueFenceAnswered = s.enqueueActions(({ context, event, enqueue }) => {
  const f = event.type === 'COMMAND_RESULT' ? context.rogueFences?.[event.siteId] : undefined;
  if (event.type === 'COMMAND_RESULT' && f) enqueue.assign({ now: event.at, rogueFences: { ...context.rogueFences, [event.siteId]: { ...f, answered: true } } });
});

const noteTime = s.enqueueActions(({ context, event, enqueue }) => enqueue.assign({ now: timeOf(event as { at?: number }, context) }));

const bumpAttempt = s.enqueueActions(({ context, enqueue }) => {
  if (context.op) enqueue.assign({ op: { ...context.op, attempt: context.op.attempt + 1 } });
});

/** Starts an operation (failover, switchover, reprotect), with a fresh operation number. */
function beginOp(kind: Operation['kind'], build: (c: WorkloadContext, e: WorkloadEvent) => Omit<Operation, 'kind' | 'attempt' | 'allowDataLoss' | 'startedAt'> & { allowDataLoss?: boolean }) {
  return s.enqueueActions(({ context, event, enqueue }) => {
    const at = timeOf(event as { at?: number }, context);
    const b = build(context, event);
    enqueue.assign({
      now: at,
      lastTransitionAt: at,
      opSeq: context.opSeq + 1,
      escalation: undefined,
      op: { kind, attempt: 0, allowDataLoss: false, startedAt: at, ...b },
    });
  });
}

/**
 * A step that sends one command and waits for its result: done → `onDone`; failed, refused or
 * timed out → retried with the next attempt number up to `policy.retries`, then escalated.
 * `prepare` runs first (e.g. the epoch increment of a promotion), so the command carries it.
 */
function commandStep(o: {
  id: string;
  action: CommandAction;
  site: (c: WorkloadContext) => string;
  timeout: TimeoutDelay;
  params?: (c: WorkloadContext) => Record<string, unknown>;
  prepare?: (c: WorkloadContext) => Partial<WorkloadContext>;
  announce?: (c: WorkloadContext) => Parameters<typeof decide>[0][];
  /** Treat "unsupported" as done (a driver without redirect needs none). */
  skipUnsupported?: boolean;
  onDone: { target: string; actions?: ReturnType<typeof s.enqueueActions> };
}) {
  return s.createStateConfig({
    id: o.id,
    entry: s.enqueueActions(({ context, enqueue }) => {
      const c = { ...context, ...(o.prepare?.(context) ?? {}) };
      if (!c.op) return;
      const site = o.site(c);
      const commandId = commandIdFor(c, o.action, site);
      enqueue.assign({ ...(o.prepare?.(context) ?? {}), op: { ...c.op, commandId } });
      for (const d of o.announce?.(c) ?? []) enqueue(decide(d));
      enqueue(decide({ type: 'CommandIssued', command: { commandId, siteId: site, action: o.action, epoch: c.epoch, timeoutMs: c.policy[`${o.timeout}Ms`], params: o.params?.(c) ?? {} } }));
    }),
    on: {
      COMMAND_RESULT: [
        {
          guard: ({ context, event }) => isResult(context, event) && event.type === 'COMMAND_RESULT' && (event.status === 'done' || (!!o.skipUnsupported && /^unsupported/.test(event.reason ?? ''))),
          target: o.onDone.target,
          actions: [noteTime, ...(o.onDone.actions ? [o.onDone.actions] : [])],
        },
        { guard: ({ context, event }) => isResult(context, event) && (context.op?.attempt ?? 0) < context.policy.retries, target: `#${o.id}`, reenter: true, actions: [noteTime, bumpAttempt] },
        {
          guard: ({ context, event }) => isResult(context, event),
          target: '#escalated',
          actions: escalate(o.id, (c) => `${o.action} on ${o.site(c)} failed after ${(c.op?.attempt ?? 0) + 1} attempt(s)`),
        },
      ],
    },
    after: {
      [o.timeout]: [
        { guard: ({ context }: { context: WorkloadContext }) => (context.op?.attempt ?? 0) < context.policy.retries, target: `#${o.id}`, reenter: true, actions: [noteTime, bumpAttempt] },
        { target: '#escalated', actions: escalate(o.id, (c) => `${o.action} on ${o.site(c)} not confirmed within ${c.policy[`${o.timeout}Ms`]} ms`) },
      ],
    },
  });
}

const target = (c: WorkloadContext) => c.op?.target ?? c.primarySite;
const fromSite = (c: WorkloadContext) => c.op?.fromSite ?? c.primarySite;
const promotePrepare = (c: WorkloadContext) => (c.op?.attempt === 0 ? { epoch: c.epoch + 1, epochPrimary: c.op.target } : {});
const promoteAnnounce = (c: WorkloadContext) => (c.op?.attempt === 0 ? [{ type: 'EpochAdvanced' as const, from: c.epoch - 1, to: c.epoch, primarySite: target(c) }] : []);

/** The move is done: the target is the primary, the old one fenced (or a replica after a planned move). */
const completeMove = s.enqueueActions(({ context, event, enqueue }) => {
  const op = context.op;
  if (!op || op.target === undefined) return;
  const at = timeOf(event as { at?: number }, context);
  const planned = op.kind === 'switchover';
  enqueue(decide({
    type: 'FailoverCompleted', fromSite: op.fromSite, toSite: op.target, epoch: context.epoch, startedAt: op.startedAt, rtoMs: Math.max(0, at - op.startedAt),
    ...(planned ? { dataLossSeconds: 0 } : op.dataLossSeconds !== undefined ? { dataLossSeconds: op.dataLossSeconds } : {}),
  }));
  const sites: Record<string, SiteState> = { ...context.sites };
  const t = sites[op.target];
  const f = sites[op.fromSite];
  if (t) sites[op.target] = { ...t, role: 'primary', lagSeconds: 0 };
  if (f) sites[op.fromSite] = { ...f, role: planned ? 'replica' : 'fenced' };
  enqueue.assign({
    now: at, primarySite: op.target, previousPrimary: op.fromSite, sites, lastTransitionAt: at, op: undefined, primaryFailed: false, primaryFailure: undefined,
    ...(planned ? { failbackDue: false } : { lastFailoverAt: at, cooldownAcknowledged: false, failbackDue: true }),
  });
});

const fencingStep = commandStep({
  id: 'foFencing',
  action: 'fence',
  site: fromSite,
  timeout: 'fenceTimeout',
  onDone: { target: '#foPromoting', actions: s.enqueueActions(({ context, enqueue }) => enqueue(decide({ type: 'FenceConfirmed', siteId: fromSite(context), by: 'agent' }))) },
});

/**
 * Invariant 1a: a failover first chooses the replica to promote, from the facts as they stand
 * (the runtime records every change of a copy's health or role at once, and the freshest
 * positions just before a failure): the site up, the copy a healthy replica, its lag within the
 * allowed data loss. Only with one chosen is the old primary fenced. Beyond the allowed loss, a
 * human decides (invariant 5), still before anything is fenced.
 */
const selectCandidate = s.enqueueActions(({ context, enqueue }) => {
  const op = context.op;
  if (!op) return;
  const limit = op.allowDataLoss ? Number.POSITIVE_INFINITY : context.policy.maxDataLossSeconds;
  const sel = selectReplica(Object.values(context.sites), op.fromSite, limit);
  // A named target is honoured when it is eligible under the limit in force (an operator's
  // forced failover or approved data loss lifts the limit; approving the failover does not).
  const forced = op.target !== undefined && sel.candidates.some((c) => c.siteId === op.target && c.eligible);
  const chosen = forced ? op.target : sel.chosen;
  enqueue(decide({ type: 'ReplicaSelected', ...(chosen !== undefined ? { chosen } : {}), candidates: sel.candidates }));
  if (chosen !== undefined) {
    enqueue.assign({ op: { ...op, target: chosen, attempt: 0, dataLossSeconds: context.sites[chosen]?.lagSeconds } });
    return;
  }
  const risky = selectReplica(Object.values(context.sites), op.fromSite, Number.POSITIVE_INFINITY).chosen;
  if (risky !== undefined) {
    enqueue(decide({ type: 'ApprovalRequired', reason: `every reachable replica lags more than maxDataLossSeconds (${context.policy.maxDataLossSeconds} s); ${op.fromSite} is not fenced until then`, candidate: risky }));
    enqueue.assign({ approvalFor: 'dataLoss', op: { ...op, target: undefined } });
  } else enqueue.assign({ op: { ...op, target: undefined } });
});

/** Pure guard. Some replica could be promoted now (within the allowed loss or with approval): selecting again decides. */
const promotableReplica = ({ context }: { context: WorkloadContext }) =>
  !!context.op && selectReplica(Object.values(context.sites), context.op.fromSite, Number.POSITIVE_INFINITY).chosen !== undefined;

/** No replica became promotable in time: the failover ends with nothing fenced and the primary as it was. */
const giveUpNoReplica = s.enqueueActions(({ context, event, enqueue }) => {
  const op = context.op;
  const at = timeOf(event as { at?: number }, context);
  if (!op) return;
  const sel = selectReplica(Object.values(context.sites), op.fromSite, op.allowDataLoss ? Number.POSITIVE_INFINITY : context.policy.maxDataLossSeconds);
  const why = sel.candidates.map((c) => `${c.siteId}: ${c.reasons.filter((r) => !/^(site reachable|copy healthy|priority)/.test(r)).join(', ') || 'not eligible'}`).join('; ') || 'no other copy';
  const reason = `no promotable replica within ${context.policy.replicaWaitMs ?? DEFAULT_POLICY.replicaWaitMs} ms (${why}); primary at ${op.fromSite} left untouched (not fenced)`;
  enqueue(decide({ type: 'ReplicaSelected', candidates: sel.candidates }));
  enqueue(decide({ type: 'FailoverSuppressed', reason }));
  enqueue(decide({ type: 'Escalated', step: 'foAwaitingReplica', reason }));
  enqueue.assign({ now: at, lastTransitionAt: at, op: undefined, approvalFor: undefined, escalation: { step: 'foAwaitingReplica', reason } });
});

/** The primary recovered while no fence was sent yet: the failover is called off, nothing was touched. */
const callOffBeforeFence = s.enqueueActions(({ context, event, enqueue }) => {
  const at = timeOf(event as { at?: number }, context);
  enqueue(decide({ type: 'FailoverAborted', reason: `primary at ${context.op?.fromSite ?? context.primarySite} recovered before anything was fenced` }));
  enqueue.assign({ now: at, lastTransitionAt: at, op: undefined, approvalFor: undefined, primaryFailed: false, primaryFailure: undefined });
});

const startFailover = (forced: boolean) =>
  beginOp('failover', (c, e) => {
    const f = c.primaryFailure;
    const isOp = e.type === 'OPERATOR_COMMAND';
    return {
      fromSite: c.primarySite,
      reason: isOp ? `operator ${e.actor.id}: ${e.reason ?? 'failover requested'}` : (f?.reason ?? 'primary failed'),
      evidence: f?.evidence ?? [],
      leaseExpiredAt: c.sites[c.primarySite]?.leaseExpiredAt ?? f?.leaseExpiredAt,
      ...(isOp ? { actor: e.actor, allowDataLoss: forced, ...(e.targetSite ? { target: e.targetSite } : {}) } : {}),
    };
  });

const announceFailover = s.enqueueActions(({ context, enqueue }) => {
  const op = context.op;
  if (op) enqueue(decide({ type: 'FailoverStarted', mode: 'unplanned', fromSite: op.fromSite, reason: op.reason, evidence: op.evidence, ...(op.actor ? { actor: op.actor } : {}) }));
});

const recordPrimaryFailure = s.enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'PRIMARY_FAILED') return;
  const prev = context.primaryFailure;
  enqueue.assign({
    now: event.at,
    primaryFailed: true,
    primaryFailure: {
      reason: event.reason,
      evidence: [...(prev?.evidence ?? []), ...event.evidence].slice(-50),
      leaseExpiredAt: event.leaseExpiredAt ?? prev?.leaseExpiredAt,
      at: prev?.at ?? event.at,
    },
  });
});

const clearPrimaryFailure = s.enqueueActions(({ event, enqueue, context }) => enqueue.assign({ now: timeOf(event as { at?: number }, context), primaryFailed: false, primaryFailure: undefined, lastTransitionAt: timeOf(event as { at?: number }, context) }));

/** Operator commands accepted in the quiet states (protected, degraded, failedOver, escalated). */
const operatorMoves = {
  failover: { guard: cmd('failover'), target: '#failingOver', actions: [startFailover(true), announceFailover] },
  switchover: {
    guard: ({ context, event }: { context: WorkloadContext; event: WorkloadEvent }) =>
      event.type === 'OPERATOR_COMMAND' && event.command === 'switchover' && !!event.targetSite && event.targetSite !== context.primarySite && !!context.sites[event.targetSite],
    target: '#switchingOver',
    actions: beginOp('switchover', (c, e) => ({ fromSite: c.primarySite, target: e.type === 'OPERATOR_COMMAND' ? e.targetSite : undefined, reason: 'planned switchover', evidence: [], ...(e.type === 'OPERATOR_COMMAND' ? { actor: e.actor } : {}) })),
  },
  failback: {
    guard: ({ context, event }: { context: WorkloadContext; event: WorkloadEvent }) =>
      event.type === 'OPERATOR_COMMAND' && event.command === 'failback' && context.previousPrimary !== undefined && context.sites[context.previousPrimary]?.role === 'replica',
    target: '#switchingOver',
    actions: beginOp('switchover', (c, e) => ({ fromSite: c.primarySite, target: c.previousPrimary, reason: 'planned failback', evidence: [], ...(e.type === 'OPERATOR_COMMAND' ? { actor: e.actor } : {}) })),
  },
};

/** Maintenance: observe, never act. Only from a quiet state: a half-done move must finish or escalate. */
const pauseMove = { guard: cmd('pause'), target: '#paused', actions: noteTime };

const quietStateHandlers = {
  PRIMARY_FAILED: { guard: 'primarySiteEvent' as const, target: '#suspect', actions: recordPrimaryFailure },
  OPERATOR_COMMAND: [operatorMoves.failover, operatorMoves.switchover, operatorMoves.failback, pauseMove],
};

export const workloadMachine = s.createMachine({
  id: 'workload',
  type: 'parallel',
  context: ({ input }) => {
    const sites: Record<string, SiteState> = {};
    for (const site of input.sites) {
      sites[site.siteId] = { siteId: site.siteId, priority: site.priority, capacity: site.capacity, healthy: true, lost: false, role: site.siteId === input.primarySite ? 'primary' : 'replica' };
    }
    return {
      workloadId: input.workloadId, epoch: input.epoch, primarySite: input.primarySite, sites, policy: input.policy as Policy, now: input.at,
      lastTransitionAt: input.at, opSeq: 0, primaryFailed: false, cooldownAcknowledged: false, drillSeq: 0, failbackDue: false,
    };
  },
  // Facts about copies and sites are kept current whatever the state (even paused).
  on: {
    REPLICA_STATUS: { actions: takeReplicaStatus },
    // Reached only when no state takes the result (XState asks the root last): a rogue primary's fence.
    COMMAND_RESULT: { guard: isRogueFenceResult, actions: rogueFenceAnswered },
    SITE_STATUS: {
      actions: s.enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'SITE_STATUS') return;
        const prev = context.sites[event.siteId];
        if (!prev) return enqueue.assign({ now: event.at });
        const lost = event.status === 'lost';
        enqueue.assign({
          now: event.at,
          sites: { ...context.sites, [event.siteId]: { ...prev, lost, leaseExpiredAt: lost ? event.leaseExpiredAt : undefined } },
          ...(context.op && context.op.fromSite === event.siteId && lost && event.leaseExpiredAt !== undefined ? { op: { ...context.op, leaseExpiredAt: event.leaseExpiredAt } } : {}),
          // The old primary's site is back: its old lease expiry proves no fence any more (its agent
          // is alive and did not fence itself); only that agent's answer to the fence can.
          ...(context.op && context.op.fromSite === event.siteId && !lost ? { op: { ...context.op, leaseExpiredAt: undefined } } : {}),
          ...(context.primaryFailure && event.siteId === context.primarySite && !lost ? { primaryFailure: { ...context.primaryFailure, leaseExpiredAt: undefined } } : {}),
        });
      }),
    },
    PRIMARY_RECOVERED: { guard: 'primarySiteEvent', actions: s.enqueueActions(({ event, enqueue, context }) => enqueue.assign({ now: timeOf(event as { at?: number }, context), primaryFailed: false, primaryFailure: undefined })) },
    PRIMARY_FAILED: { guard: 'primarySiteEvent', actions: recordPrimaryFailure },
  },
  states: {
    protection: {
      initial: 'active',
      on: { OPERATOR_COMMAND: { guard: ({ event }) => event.type === 'OPERATOR_COMMAND' && PROTECTION_COMMANDS.has(event.command), actions: reject } },
      states: {
        active: {
          initial: 'protected',
          states: {
            hist: { type: 'history', history: 'shallow' },
            protected: {
              id: 'protected',
              always: [
                { guard: 'degraded', target: 'degraded' },
                {
                  // autoFailback: once the old primary is a replica in sync again, move back (planned, zero loss).
                  guard: ({ context }) => context.policy.autoFailback && context.failbackDue && context.previousPrimary !== undefined && inSync(context, context.previousPrimary),
                  target: '#switchingOver',
                  actions: [
                    beginOp('switchover', (c) => ({ fromSite: c.primarySite, target: c.previousPrimary, reason: 'automatic failback (autoFailback)', evidence: [] })),
                    s.enqueueActions(({ enqueue }) => enqueue.assign({ failbackDue: false })),
                  ],
                },
              ],
              on: { ...quietStateHandlers },
            },
            degraded: {
              id: 'degraded',
              always: { guard: 'notDegraded', target: 'protected' },
              on: { ...quietStateHandlers },
            },
            suspect: {
              id: 'suspect',
              entry: s.enqueueActions(({ context, enqueue }) => enqueue.assign({ lastTransitionAt: context.now })),
              on: {
                PRIMARY_RECOVERED: { guard: 'primarySiteEvent', target: 'protected', actions: clearPrimaryFailure },
                PRIMARY_FAILED: { guard: 'primarySiteEvent', actions: recordPrimaryFailure },
                OPERATOR_COMMAND: [operatorMoves.failover],
              },
              after: {
                debounce: [
                  {
                    guard: ({ context }) => inCooldown(context),
                    target: '#escalated',
                    actions: s.enqueueActions(({ context, event, enqueue }) => {
                      const at = timeOf(event as { at?: number }, context);
                      const reason = `anti-flap: last automatic failover ${Math.round((at - (context.lastFailoverAt ?? at)) / 1000)} s ago, within the ${context.policy.cooldownSeconds} s cooldown; acknowledge to allow another`;
                      enqueue(decide({ type: 'FailoverSuppressed', reason }));
                      enqueue.assign({ now: at, escalation: { step: 'suspect', reason }, lastTransitionAt: at });
                    }),
                  },
                  {
                    guard: ({ context }) => context.policy.failoverMode === 'approval',
                    target: '#awaitingApproval',
                    actions: s.enqueueActions(({ context, event, enqueue }) => {
                      const at = timeOf(event as { at?: number }, context);
                      enqueue(decide({ type: 'ApprovalRequired', reason: `failover of ${context.workloadId} from ${context.primarySite} needs approval (failoverMode approval)` }));
                      enqueue.assign({ now: at, approvalFor: 'failover', lastTransitionAt: at });
                    }),
                  },
                  {
                    guard: ({ context }) => context.policy.failoverMode === 'manual',
                    target: '#escalated',
                    actions: escalate('suspect', (c) => `primary at ${c.primarySite} failed; failoverMode manual: an operator must run failover`),
                  },
                  { target: '#failingOver', actions: [startFailover(false), announceFailover] },
                ],
              },
            },
            awaitingApproval: {
              id: 'awaitingApproval',
              on: {
                PRIMARY_RECOVERED: [
                  { guard: ({ context, event }) => context.approvalFor === 'failover' && 'siteId' in event && event.siteId === context.primarySite, target: 'protected', actions: clearPrimaryFailure },
                  // Approval of a data loss is asked before any fence: a primary back meanwhile just goes on.
                  { guard: ({ context, event }) => context.approvalFor === 'dataLoss' && 'siteId' in event && event.siteId === context.primarySite, target: 'protected', actions: callOffBeforeFence },
                ],
                OPERATOR_COMMAND: [
                  {
                    guard: ({ context, event }) => cmd('approve')({ event }) && context.approvalFor === 'failover',
                    target: '#failingOver',
                    actions: [startFailover(false), announceFailover],
                  },
                  {
                    guard: ({ context, event }) => cmd('approve')({ event }) && context.approvalFor === 'dataLoss',
                    target: '#foSelecting',
                    actions: s.enqueueActions(({ context, event, enqueue }) => {
                      if (context.op) enqueue.assign({ now: timeOf(event as { at?: number }, context), op: { ...context.op, allowDataLoss: true, ...(event.type === 'OPERATOR_COMMAND' && event.targetSite ? { target: event.targetSite } : {}) } });
                    }),
                  },
                  {
                    guard: cmd('reject'),
                    target: '#escalated',
                    // Nothing was fenced yet: no operation is left half done (a primary back later goes on as protected).
                    actions: [escalate('awaitingApproval', 'rejected by an operator'), s.enqueueActions(({ enqueue }) => enqueue.assign({ op: undefined, approvalFor: undefined }))],
                  },
                  pauseMove,
                ],
              },
            },
            failingOver: {
              id: 'failingOver',
              // Invariant 1a: a replica is chosen before anything is fenced (selectCandidate).
              initial: 'selectingReplica',
              states: {
                selectingReplica: {
                  id: 'foSelecting',
                  entry: selectCandidate,
                  always: [
                    { guard: ({ context }) => context.op?.target !== undefined, target: 'fencing' },
                    { guard: ({ context }) => context.approvalFor === 'dataLoss', target: '#awaitingApproval' },
                    { target: 'awaitingReplica' },
                  ],
                },
                awaitingReplica: {
                  // No promotable replica yet (one probe of the only replica may have failed): every
                  // report re-checks, for at most replicaWaitMs; the primary is not touched meanwhile.
                  id: 'foAwaitingReplica',
                  always: { guard: promotableReplica, target: 'selectingReplica' },
                  on: {
                    PRIMARY_RECOVERED: { guard: 'primarySiteEvent', target: '#protected', actions: callOffBeforeFence },
                  },
                  after: { replicaWait: { target: '#escalated', actions: giveUpNoReplica } },
                },
                fencing: {
                  ...fencingStep,
                  // Also fenced once the old primary's lease expired plus the margin: its agent fenced itself.
                  after: {
                    leaseMargin: {
                      guard: 'leaseExpired',
                      target: '#foPromoting',
                      actions: [noteTime, s.enqueueActions(({ context, enqueue }) => enqueue(decide({ type: 'FenceConfirmed', siteId: fromSite(context), by: 'leaseExpiry', detail: `lease expired at ${context.op?.leaseExpiredAt}; margin ${context.policy.fenceMarginMs} ms passed` })))],
                    },
                    ...fencingStep.after,
                  },
                  on: {
                    ...fencingStep.on,
                    // The lease of the old primary's site expired meanwhile: re-arm with the margin timer.
                    SITE_STATUS: { guard: ({ context, event }) => event.type === 'SITE_STATUS' && event.status === 'lost' && event.siteId === fromSite(context), target: '#foFencing', reenter: true },
                  },
                },
                promoting: commandStep({ id: 'foPromoting', action: 'promote', site: target, timeout: 'promoteTimeout', prepare: promotePrepare, announce: promoteAnnounce, onDone: { target: '#foRedirecting', actions: s.enqueueActions(({ context, enqueue }) => enqueue(decide({ type: 'PromoteConfirmed', siteId: target(context), epoch: context.epoch }))) } }),
                redirecting: commandStep({ id: 'foRedirecting', action: 'redirect', site: target, timeout: 'verifyTimeout', params: (c) => ({ fromSite: fromSite(c) }), skipUnsupported: true, onDone: { target: '#foVerifying' } }),
                verifying: {
                  id: 'foVerifying',
                  always: { guard: ({ context }) => context.sites[target(context)]?.role === 'primary' && !!context.sites[target(context)]?.healthy, target: '#failedOver', actions: completeMove },
                  on: { COMMAND_RESULT: { guard: (a) => !isRogueFenceResult(a), actions: noteTime } },
                  after: { verifyTimeout: { target: '#escalated', actions: escalate('foVerifying', (c) => `${target(c)} was promoted but has not reported itself a healthy primary`) } },
                },
              },
            },
            failedOver: {
              id: 'failedOver',
              always: {
                guard: ({ context }) => {
                  const p = context.previousPrimary;
                  const old = p ? context.sites[p] : undefined;
                  return context.policy.autoReprotect && !!old && !old.lost && old.healthy && old.role !== 'replica' && old.role !== 'unknown';
                },
                target: '#reprotecting',
                actions: beginOp('reprotect', (c) => ({ fromSite: c.previousPrimary ?? c.primarySite, target: c.previousPrimary, reason: 'old primary is back: resync it as a replica', evidence: [] })),
              },
              on: {
                ...quietStateHandlers,
                OPERATOR_COMMAND: [
                  {
                    guard: ({ context, event }) => cmd('reprotect')({ event }) && context.previousPrimary !== undefined && !context.sites[context.previousPrimary]?.lost,
                    target: '#reprotecting',
                    actions: beginOp('reprotect', (c, e) => ({ fromSite: c.previousPrimary ?? c.primarySite, target: c.previousPrimary, reason: 'operator reprotect', evidence: [], ...(e.type === 'OPERATOR_COMMAND' ? { actor: e.actor } : {}) })),
                  },
                  operatorMoves.failover,
                  pauseMove,
                ],
              },
            },
            reprotecting: {
              ...commandStep({
                id: 'reprotecting',
                action: 'reprotect',
                site: (c) => c.op?.target ?? c.primarySite,
                timeout: 'promoteTimeout',
                params: (c) => ({ upstreamSite: c.primarySite }),
                prepare: (c) => (c.op?.attempt === 0 ? { epoch: c.epoch + 1, epochPrimary: undefined } : {}),
                announce: (c) => (c.op?.attempt === 0 ? [{ type: 'ReprotectStarted' as const, siteId: c.op?.target ?? '' }, { type: 'EpochAdvanced' as const, from: c.epoch - 1, to: c.epoch, primarySite: c.primarySite }] : []),
                onDone: {
                  target: '#protected',
                  actions: s.enqueueActions(({ context, enqueue }) => {
                    const site = context.op?.target;
                    if (!site) return;
                    enqueue(decide({ type: 'ReprotectCompleted', siteId: site }));
                    const old = context.sites[site];
                    enqueue.assign({ op: undefined, lastTransitionAt: context.now, sites: old ? { ...context.sites, [site]: { ...old, role: 'replica' } } : context.sites });
                  }),
                },
              }),
            },
            switchingOver: {
              id: 'switchingOver',
              initial: 'quiescing',
              entry: s.enqueueActions(({ context, enqueue }) => {
                const op = context.op;
                if (op) enqueue(decide({ type: 'FailoverStarted', mode: 'planned', fromSite: op.fromSite, reason: op.reason, evidence: [], ...(op.actor ? { actor: op.actor } : {}) }));
              }),
              states: {
                quiescing: commandStep({ id: 'soQuiescing', action: 'quiesce', site: fromSite, timeout: 'fenceTimeout', onDone: { target: '#soSyncing' } }),
                syncing: {
                  id: 'soSyncing',
                  // Zero data loss: promote only once the target has everything.
                  always: { guard: ({ context }) => inSync(context, target(context)), target: '#soDemoting' },
                  after: {
                    verifyTimeout: {
                      target: '#soAborting',
                      actions: s.enqueueActions(({ context, enqueue }) => enqueue(decide({ type: 'FailoverAborted', reason: `${target(context)} did not catch up within ${context.policy.verifyTimeoutMs} ms; resuming writes on ${fromSite(context)}` }))),
                    },
                  },
                },
                aborting: commandStep({ id: 'soAborting', action: 'unfence', site: fromSite, timeout: 'fenceTimeout', onDone: { target: '#protected', actions: s.enqueueActions(({ enqueue }) => enqueue.assign({ op: undefined })) } }),
                demoting: commandStep({ id: 'soDemoting', action: 'fence', site: fromSite, timeout: 'fenceTimeout', onDone: { target: '#soPromoting', actions: s.enqueueActions(({ context, enqueue }) => enqueue(decide({ type: 'FenceConfirmed', siteId: fromSite(context), by: 'agent' }))) } }),
                promoting: commandStep({ id: 'soPromoting', action: 'promote', site: target, timeout: 'promoteTimeout', prepare: promotePrepare, announce: promoteAnnounce, onDone: { target: '#soRedirecting', actions: s.enqueueActions(({ context, enqueue }) => enqueue(decide({ type: 'PromoteConfirmed', siteId: target(context), epoch: context.epoch }))) } }),
                redirecting: commandStep({ id: 'soRedirecting', action: 'redirect', site: target, timeout: 'verifyTimeout', params: (c) => ({ fromSite: fromSite(c) }), skipUnsupported: true, onDone: { target: '#soResyncing' } }),
                resyncing: commandStep({ id: 'soResyncing', action: 'reprotect', site: fromSite, timeout: 'promoteTimeout', params: (c) => ({ upstreamSite: target(c) }), onDone: { target: '#protected', actions: completeMove } }),
              },
            },
            escalated: {
              id: 'escalated',
              on: {
                OPERATOR_COMMAND: [
                  operatorMoves.failover,
                  // Acknowledged: a primary that is still failed is judged again (debounce, cooldown lifted);
                  // a healthy one goes back to protection.
                  { guard: ({ context, event }) => cmd('acknowledge')({ event }) && context.primaryFailed, target: 'suspect', actions: acknowledge() },
                  { guard: cmd('acknowledge'), target: 'protected', actions: acknowledge() },
                  pauseMove,
                ],
                PRIMARY_RECOVERED: { guard: ({ context, event }) => 'siteId' in event && event.siteId === context.primarySite && context.op === undefined, target: 'protected', actions: clearPrimaryFailure },
              },
            },
          },
        },
        paused: {
          id: 'paused',
          on: { OPERATOR_COMMAND: { guard: cmd('resume'), target: 'active.hist', actions: noteTime } },
        },
      },
    },
    drill: {
      initial: 'idle',
      on: { OPERATOR_COMMAND: { guard: ({ event }) => event.type === 'OPERATOR_COMMAND' && DRILL_COMMANDS.has(event.command), actions: reject } },
      states: {
        idle: {
          on: {
            OPERATOR_COMMAND: {
              guard: ({ context, event }) => {
                if (!cmd('drillStart')({ event }) || event.type !== 'OPERATOR_COMMAND') return false;
                const site = event.targetSite ?? Object.values(context.sites).find((x) => x.siteId !== context.primarySite && !x.lost && x.healthy)?.siteId;
                return site !== undefined && site !== context.primarySite && !!context.sites[site];
              },
              target: 'running',
              actions: s.enqueueActions(({ context, event, enqueue }) => {
                if (event.type !== 'OPERATOR_COMMAND') return;
                const site = event.targetSite ?? Object.values(context.sites).find((x) => x.siteId !== context.primarySite && !x.lost && x.healthy)!.siteId;
                const seq = context.drillSeq + 1;
                const commandId = `${context.workloadId}:${context.epoch}:drill${seq}:drillStart:${site}:0`;
                enqueue(decide({ type: 'DrillStarted', siteId: site }));
                enqueue(decide({ type: 'CommandIssued', command: { commandId, siteId: site, action: 'drillStart', epoch: context.epoch, timeoutMs: context.policy.verifyTimeoutMs, params: { isolated: true } } }));
                enqueue.assign({ now: event.at, drillSeq: seq, drill: { siteId: site, seq, commandId } });
              }),
            },
          },
        },
        running: {
          on: {
            COMMAND_RESULT: {
              guard: ({ context, event }) => event.type === 'COMMAND_RESULT' && event.commandId === context.drill?.commandId && event.status !== 'done',
              target: 'cleaningUp',
              actions: noteTime,
            },
            OPERATOR_COMMAND: { guard: cmd('drillCleanup'), target: 'cleaningUp', actions: noteTime },
          },
        },
        cleaningUp: {
          entry: s.enqueueActions(({ context, enqueue }) => {
            const d = context.drill;
            if (!d) return;
            const commandId = `${context.workloadId}:${context.epoch}:drill${d.seq}:drillCleanup:${d.siteId}:0`;
            enqueue(decide({ type: 'CommandIssued', command: { commandId, siteId: d.siteId, action: 'drillCleanup', epoch: context.epoch, timeoutMs: context.policy.verifyTimeoutMs, params: {} } }));
            enqueue.assign({ drill: { ...d, commandId } });
          }),
          on: {
            COMMAND_RESULT: {
              guard: ({ context, event }) => event.type === 'COMMAND_RESULT' && event.commandId === context.drill?.commandId,
              target: 'idle',
              actions: s.enqueueActions(({ context, event, enqueue }) => {
                if (event.type !== 'COMMAND_RESULT' || !context.drill) return;
                enqueue(decide({ type: 'DrillCompleted', siteId: context.drill.siteId, result: event.status === 'done' ? 'passed' : 'failed', ...(event.reason ? { detail: event.reason } : {}) }));
                enqueue.assign({ now: event.at, drill: undefined });
              }),
            },
          },
          after: {
            verifyTimeout: {
              target: 'idle',
              actions: s.enqueueActions(({ context, enqueue }) => {
                if (context.drill) enqueue(decide({ type: 'DrillCompleted', siteId: context.drill.siteId, result: 'failed', detail: 'cleanup not confirmed in time' }));
                enqueue.assign({ drill: undefined });
              }),
            },
          },
        },
      },
    },
  },
});
