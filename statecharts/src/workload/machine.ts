import type { Decision, Policy, WorkloadInput, WorkloadSetup } from '@drc/contracts';
import { assign, enqueueActions, setup } from 'xstate';
import { selectReplica, type SiteFacts } from './select-replica';

/** Bumped whenever a change to this machine can change a decision (replay checks it). */
export const STATECHART_VERSION = 'workload@1';

export interface SiteState extends SiteFacts {
  role: 'primary' | 'replica' | 'fenced' | 'stopped' | 'unknown';
  leaseExpiredAt?: number | undefined;
}

export interface FailoverContext {
  fromSite: string;
  startedAt: number;
  reason: string;
  evidence: string[];
  leaseExpiredAt?: number | undefined;
  target?: string | undefined;
  attempt: number;
  fenceCommandId?: string | undefined;
  promoteCommandId?: string | undefined;
}

export interface WorkloadContext {
  workloadId: string;
  epoch: number;
  primarySite: string;
  sites: Record<string, SiteState>;
  policy: Policy;
  /** Recorded time of the last input (the machine's only notion of now). */
  now: number;
  lastTransitionAt?: number | undefined;
  lastFailoverAt?: number | undefined;
  failover?: FailoverContext | undefined;
}

/** Events the machine reacts to: recorded inputs, plus its own delayed events fed back with `at`. */
export type WorkloadEvent =
  | Exclude<WorkloadInput, { type: 'TIMER_FIRED' }>
  | { type: `xstate.after.${string}`; at: number };

const decide = (d: Decision) => ({ type: 'decide' as const, params: d });

function commandId(ctx: WorkloadContext, action: string, siteId: string, attempt: number): string {
  return `${ctx.workloadId}:${ctx.epoch}:${action}:${siteId}:${attempt}`;
}

export const workloadMachine = setup({
  types: {
    context: {} as WorkloadContext,
    events: {} as WorkloadEvent,
    input: {} as WorkloadSetup,
  },
  actions: {
    /** Carried out by the runtime: record the decision, then act on it. */
    decide: (_, _params: Decision) => {},
  },
  delays: {
    debounce: ({ context }) => context.policy.debounceMs,
    fenceTimeout: ({ context }) => context.policy.fenceTimeoutMs,
    promoteTimeout: ({ context }) => context.policy.promoteTimeoutMs,
    leaseMargin: ({ context }) => {
      const expired = context.failover?.leaseExpiredAt;
      if (expired === undefined) return context.policy.fenceTimeoutMs;
      return Math.max(0, expired + context.policy.fenceMarginMs - context.now);
    },
  },
  guards: {
    isPrimarySite: ({ context, event }) => 'siteId' in event && event.siteId === context.primarySite,
    leaseExpired: ({ context }) => context.failover?.leaseExpiredAt !== undefined,
    isFenceResult: ({ context, event }) =>
      event.type === 'COMMAND_RESULT' && event.commandId === context.failover?.fenceCommandId,
    isPromoteResult: ({ context, event }) =>
      event.type === 'COMMAND_RESULT' && event.commandId === context.failover?.promoteCommandId,
    resultDone: ({ event }) => event.type === 'COMMAND_RESULT' && event.status === 'done',
    hasTarget: ({ context }) => context.failover?.target !== undefined,
  },
}).createMachine({
  id: 'workload',
  context: ({ input }) => {
    const sites: Record<string, SiteState> = {};
    for (const s of input.sites) {
      sites[s.siteId] = {
        siteId: s.siteId,
        priority: s.priority,
        capacity: s.capacity,
        healthy: true,
        lost: false,
        role: s.siteId === input.primarySite ? 'primary' : 'replica',
      };
    }
    return {
      workloadId: input.workloadId,
      epoch: input.epoch,
      primarySite: input.primarySite,
      sites,
      policy: input.policy,
      now: input.at,
      lastTransitionAt: input.at,
    };
  },
  // Every event carries `at`; keep `now` and the site facts current whatever the state.
  on: {
    REPLICA_STATUS: {
      actions: assign(({ context, event }) => {
        const prev = context.sites[event.siteId];
        if (!prev) return { now: event.at };
        return {
          now: event.at,
          sites: {
            ...context.sites,
            [event.siteId]: {
              ...prev,
              healthy: event.healthy,
              ...(event.role !== undefined ? { role: event.role } : {}),
              ...(event.position !== undefined ? { position: event.position } : {}),
              ...(event.lagSeconds !== undefined ? { lagSeconds: event.lagSeconds } : {}),
            },
          },
        };
      }),
    },
    SITE_STATUS: {
      actions: assign(({ context, event }) => {
        const prev = context.sites[event.siteId];
        if (!prev) return { now: event.at };
        return {
          now: event.at,
          sites: {
            ...context.sites,
            [event.siteId]: { ...prev, lost: event.status === 'lost', leaseExpiredAt: event.leaseExpiredAt },
          },
        };
      }),
    },
  },
  initial: 'protected',
  states: {
    protected: {
      on: {
        PRIMARY_FAILED: {
          guard: 'isPrimarySite',
          target: 'suspect',
          actions: assign(({ context, event }) => ({
            now: event.at,
            lastTransitionAt: event.at,
            failover: {
              fromSite: context.primarySite,
              startedAt: event.at,
              reason: event.reason,
              evidence: event.evidence,
              leaseExpiredAt: event.leaseExpiredAt,
              attempt: 0,
            },
          })),
        },
      },
    },
    suspect: {
      on: {
        PRIMARY_RECOVERED: {
          guard: 'isPrimarySite',
          target: 'protected',
          actions: assign(({ event }) => ({ now: event.at, lastTransitionAt: event.at, failover: undefined })),
        },
        PRIMARY_FAILED: {
          guard: 'isPrimarySite',
          actions: assign(({ context, event }) => ({
            now: event.at,
            failover: context.failover && {
              ...context.failover,
              evidence: [...context.failover.evidence, ...event.evidence].slice(-50),
              leaseExpiredAt: event.leaseExpiredAt ?? context.failover.leaseExpiredAt,
            },
          })),
        },
      },
      after: {
        debounce: {
          target: 'failingOver',
          actions: [
            assign(({ event }) => ({ now: (event as { at?: number }).at ?? 0 })),
            enqueueActions(({ context, enqueue }) => {
              const f = context.failover;
              if (!f) return;
              enqueue(decide({ type: 'FailoverStarted', mode: 'unplanned', fromSite: f.fromSite, reason: f.reason, evidence: f.evidence }));
            }),
          ],
        },
      },
    },
    failingOver: {
      initial: 'fencing',
      entry: assign(({ context }) => ({ lastTransitionAt: context.now })),
      states: {
        fencing: {
          entry: [
            assign(({ context }) => ({
              failover: context.failover && {
                ...context.failover,
                fenceCommandId: commandId(context, 'fence', context.failover.fromSite, context.failover.attempt),
              },
            })),
            enqueueActions(({ context, enqueue }) => {
              const f = context.failover;
              if (!f || !f.fenceCommandId) return;
              enqueue(decide({
                type: 'CommandIssued',
                command: { commandId: f.fenceCommandId, siteId: f.fromSite, action: 'fence', epoch: context.epoch, timeoutMs: context.policy.fenceTimeoutMs, params: {} },
              }));
            }),
          ],
          on: {
            COMMAND_RESULT: {
              guard: ({ context, event }) => event.commandId === context.failover?.fenceCommandId && event.status === 'done',
              target: 'selectingReplica',
              actions: [
                assign(({ event }) => ({ now: event.at })),
                enqueueActions(({ context, enqueue }) => {
                  enqueue(decide({ type: 'FenceConfirmed', siteId: context.failover?.fromSite ?? context.primarySite, by: 'agent' }));
                }),
              ],
            },
          },
          after: {
            leaseMargin: [
              {
                guard: 'leaseExpired',
                target: 'selectingReplica',
                actions: [
                  assign(({ event }) => ({ now: (event as { at?: number }).at ?? 0 })),
                  enqueueActions(({ context, enqueue }) => {
                    enqueue(decide({
                      type: 'FenceConfirmed',
                      siteId: context.failover?.fromSite ?? context.primarySite,
                      by: 'leaseExpiry',
                      detail: `lease expired at ${context.failover?.leaseExpiredAt}; margin ${context.policy.fenceMarginMs} ms passed`,
                    }));
                  }),
                ],
              },
              {
                target: '#workload.escalated',
                actions: enqueueActions(({ enqueue }) => {
                  enqueue(decide({ type: 'Escalated', step: 'fencing', reason: 'fence not confirmed and the lease has not expired' }));
                }),
              },
            ],
          },
        },
        selectingReplica: {
          entry: enqueueActions(({ context, enqueue }) => {
            const f = context.failover;
            if (!f) return;
            const sel = selectReplica(Object.values(context.sites), f.fromSite, context.policy.maxDataLossSeconds);
            enqueue(decide({ type: 'ReplicaSelected', chosen: sel.chosen, candidates: sel.candidates }));
            enqueue.assign({ failover: { ...f, target: sel.chosen } });
          }),
          always: [
            { guard: 'hasTarget', target: 'promoting' },
            {
              target: '#workload.escalated',
              actions: enqueueActions(({ enqueue }) => {
                enqueue(decide({ type: 'Escalated', step: 'selectingReplica', reason: 'no eligible replica' }));
              }),
            },
          ],
        },
        promoting: {
          entry: enqueueActions(({ context, enqueue }) => {
            const f = context.failover;
            if (!f || f.target === undefined) return;
            const next = context.epoch + 1;
            const id = `${context.workloadId}:${next}:promote:${f.target}:${f.attempt}`;
            enqueue.assign({ epoch: next, failover: { ...f, promoteCommandId: id } });
            enqueue(decide({ type: 'EpochAdvanced', from: context.epoch, to: next, primarySite: f.target }));
            enqueue(decide({
              type: 'CommandIssued',
              command: { commandId: id, siteId: f.target, action: 'promote', epoch: next, timeoutMs: context.policy.promoteTimeoutMs, params: {} },
            }));
          }),
          on: {
            COMMAND_RESULT: {
              guard: ({ context, event }) => event.commandId === context.failover?.promoteCommandId && event.status === 'done',
              target: '#workload.failedOver',
              actions: enqueueActions(({ context, event, enqueue }) => {
                const f = context.failover;
                if (!f || f.target === undefined) return;
                const target = context.sites[f.target];
                const from = context.sites[f.fromSite];
                enqueue(decide({ type: 'PromoteConfirmed', siteId: f.target, epoch: context.epoch }));
                enqueue(decide({
                  type: 'FailoverCompleted',
                  fromSite: f.fromSite,
                  toSite: f.target,
                  epoch: context.epoch,
                  startedAt: f.startedAt,
                  rtoMs: Math.max(0, event.at - f.startedAt),
                  ...(target?.lagSeconds !== undefined ? { dataLossSeconds: target.lagSeconds } : {}),
                }));
                const sites = { ...context.sites };
                if (target) sites[f.target] = { ...target, role: 'primary', lagSeconds: 0 };
                if (from) sites[f.fromSite] = { ...from, role: 'fenced' };
                enqueue.assign({ now: event.at, primarySite: f.target, sites, lastFailoverAt: event.at, lastTransitionAt: event.at, failover: undefined });
              }),
            },
          },
          after: {
            promoteTimeout: {
              target: '#workload.escalated',
              actions: enqueueActions(({ enqueue }) => {
                enqueue(decide({ type: 'Escalated', step: 'promoting', reason: 'promote not confirmed in time' }));
              }),
            },
          },
        },
      },
    },
    failedOver: {},
    escalated: {},
  },
});
