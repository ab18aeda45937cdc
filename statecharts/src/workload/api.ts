import type { Decision, WorkloadInput, WorkloadSetup, WorkloadView } from '@drc/contracts';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { workloadMachine, type WorkloadContext } from './machine';

export type WorkloadSnapshot = SnapshotFrom<typeof workloadMachine>;

/** What the runtime must do after a decision, in order. */
export type Effect =
  | { kind: 'decision'; decision: Decision }
  | { kind: 'schedule'; timerId: string; delayMs: number; event: { type: string } }
  | { kind: 'cancel'; timerId: string };

export interface Step {
  snapshot: WorkloadSnapshot;
  effects: Effect[];
}

interface ActionLike {
  type: string;
  params?: unknown;
}

function toEffects(actions: ReadonlyArray<ActionLike>): Effect[] {
  const effects: Effect[] = [];
  for (const a of actions) {
    if (a.type === 'decide') {
      effects.push({ kind: 'decision', decision: a.params as Decision });
    } else if (a.type === 'xstate.raise') {
      const p = a.params as { event: { type: string }; id?: string; delay?: number };
      if (p.delay !== undefined) {
        effects.push({ kind: 'schedule', timerId: p.id ?? p.event.type, delayMs: p.delay, event: { type: p.event.type } });
      }
    } else if (a.type === 'xstate.cancel') {
      const p = a.params as { sendId: string };
      effects.push({ kind: 'cancel', timerId: p.sendId });
    }
  }
  return effects;
}

/** Pure. The first snapshot of a workload and the effects of entering it. Throws on an invalid setup only through zod upstream. */
export function startWorkload(setup: WorkloadSetup): Step {
  const [snapshot, actions] = initialTransition(workloadMachine, setup);
  return { snapshot, effects: toEffects(actions as ActionLike[]) };
}

/** Pure. Feeds one recorded input to the machine. Never throws for a well-typed input; unknown events change nothing. */
export function decideWorkload(snapshot: WorkloadSnapshot, input: WorkloadInput): Step {
  const event = input.type === 'TIMER_FIRED' ? { ...input.event, at: input.at } : input;
  const [next, actions] = transition(workloadMachine, snapshot, event as Parameters<typeof transition<typeof workloadMachine>>[2]);
  return { snapshot: next, effects: toEffects(actions as ActionLike[]) };
}

/** Pure. The protection region's state as a dotted path, e.g. `failingOver.fencing` (`paused` when paused). */
export function stateOf(snapshot: WorkloadSnapshot): string {
  const v = snapshot.value as unknown as { protection?: unknown };
  return flatten(v.protection).replace(/^active\./, '');
}

/** Pure. The drill region's state: `idle`, `running` or `cleaningUp`. */
export function drillStateOf(snapshot: WorkloadSnapshot): string {
  const v = snapshot.value as unknown as { drill?: unknown };
  return flatten(v.drill);
}

function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const parts = Object.entries(value as Record<string, unknown>).map(([k, v]) => {
      const inner = flatten(v);
      return inner === '' ? k : `${k}.${inner}`;
    });
    return parts.join(',');
  }
  return '';
}

/** Pure. The read-side view of a workload. */
export function viewWorkload(snapshot: WorkloadSnapshot): WorkloadView {
  const ctx: WorkloadContext = snapshot.context;
  return {
    workloadId: ctx.workloadId,
    state: stateOf(snapshot),
    drill: drillStateOf(snapshot),
    epoch: ctx.epoch,
    primarySite: ctx.primarySite,
    replicas: Object.values(ctx.sites).map((s) => ({
      siteId: s.siteId,
      role: s.role,
      healthy: s.healthy && !s.lost,
      priority: s.priority,
      ...(s.position !== undefined ? { position: s.position } : {}),
      ...(s.lagSeconds !== undefined ? { lagSeconds: s.lagSeconds } : {}),
    })),
    policy: ctx.policy,
    ...(ctx.lastTransitionAt !== undefined ? { lastTransitionAt: ctx.lastTransitionAt } : {}),
    ...(ctx.lastFailoverAt !== undefined ? { lastFailoverAt: ctx.lastFailoverAt } : {}),
  };
}

/** Pure. A JSON-safe snapshot for the snapshot store. */
export function persistWorkload(snapshot: WorkloadSnapshot): unknown {
  return workloadMachine.getPersistedSnapshot(snapshot);
}

/**
 * Pure. Restores a snapshot written by persistWorkload (same STATECHART_VERSION only), history
 * included (a paused workload resumes where it was). Throws on a snapshot of another machine.
 */
export function restoreWorkload(persisted: unknown): WorkloadSnapshot {
  const p = persisted as { value: WorkloadSnapshot['value']; context: WorkloadContext; historyValue?: Record<string, Array<{ id: string }>> };
  const historyValue = Object.fromEntries(
    Object.entries(p.historyValue ?? {}).map(([key, nodes]) => [key, nodes.map((n) => workloadMachine.getStateNodeById(n.id))]),
  );
  return workloadMachine.resolveState({ value: p.value, context: p.context, historyValue } as Parameters<typeof workloadMachine.resolveState>[0]);
}
