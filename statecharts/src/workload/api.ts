import { DEFAULT_POLICY, type Decision, type WorkloadInput, type WorkloadSetup, type WorkloadView } from '@drc/contracts';
import { createActor, type SnapshotFrom } from 'xstate';
import { workloadMachine, type WorkloadContext } from './machine';
import { rogueFenceDue, withReplicaStatus } from './context';

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

/**
 * One inert actor scope for every step. XState's `transition()` builds a new inert actor per
 * call, and building an actor computes the machine's initial snapshot: that was more than half
 * of each step's cost (replay, rehydration and live decisions alike). The machine spawns and
 * invokes nothing, so nothing of the scope outlives a step; the action executor only collects
 * the step's actions into `collected`, which each call takes and resets synchronously.
 */
let collected: ActionLike[] = [];
type Scope = Parameters<typeof workloadMachine.transition>[2];
let sharedScope: Scope | undefined;
function scope(): Scope {
  if (sharedScope) return sharedScope;
  const self = createActor(workloadMachine, { input: INERT_INPUT });
  sharedScope = {
    self,
    defer: () => {},
    id: '',
    logger: () => {},
    sessionId: '',
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: (action: ActionLike) => {
      collected.push(action);
    },
  } as unknown as Scope;
  return sharedScope;
}
/** Only to construct the shared actor (its own initial snapshot is never used). */
const INERT_INPUT: WorkloadSetup = { workloadId: 'inert', primarySite: 'a', sites: [{ siteId: 'a', priority: 1 }], policy: DEFAULT_POLICY, epoch: 0, at: 0 };

function takeCollected(): ActionLike[] {
  const out = collected;
  collected = [];
  return out;
}

/** Pure. The first snapshot of a workload and the effects of entering it. Throws on an invalid setup only through zod upstream. */
export function startWorkload(setup: WorkloadSetup): Step {
  const sc = scope();
  collected = [];
  const snapshot = workloadMachine.getInitialSnapshot(sc, setup);
  return { snapshot, effects: toEffects(takeCollected()) };
}

type Guard = (args: { context: WorkloadContext; event: unknown }, params: unknown) => boolean;
/** Per state configuration: the guards of its eventless transitions, or null when a replica report may do more than update facts there. */
const quietGuards = new Map<string, Guard[] | null>();

function eventlessGuards(snapshot: WorkloadSnapshot): Guard[] | null {
  const nodes = (snapshot as unknown as { _nodes: ReadonlyArray<StateNodeLike> })._nodes;
  const key = nodes.map((n) => n.id).join('|');
  const known = quietGuards.get(key);
  if (known !== undefined) return known;
  let guards: Guard[] | null = [];
  const named = (workloadMachine.implementations.guards ?? {}) as Record<string, unknown>;
  for (const n of nodes) {
    // Only the root's handler may react to a replica report (it updates facts and nothing else).
    if (n !== workloadMachine.root && (n.transitions.has('REPLICA_STATUS') || n.transitions.has('*'))) guards = null;
    for (const t of n.always ?? []) {
      const g = typeof t.guard === 'string' ? named[t.guard] : t.guard;
      if (typeof g !== 'function') guards = null; // unguarded, or a guard object: decide the slow way
      else guards?.push(g as Guard);
    }
    if (guards === null) break;
  }
  quietGuards.set(key, guards);
  return guards;
}
interface StateNodeLike {
  id: string;
  transitions: Map<string, unknown>;
  always?: ReadonlyArray<{ guard?: unknown }>;
}

/**
 * Pure. The fast path for the most frequent input: a replica report that only updates facts
 * (no handler but the root's, and no eventless transition whose guard holds afterwards) gives
 * the same snapshot as the machine with the updated context and no effects. Undefined when the
 * machine must decide. `statecharts/src/workload/fast-path.unit.test.ts` checks over random
 * input sequences that both paths give the same snapshots and effects.
 */
function quietReplicaReport(snapshot: WorkloadSnapshot, input: Extract<WorkloadInput, { type: 'REPLICA_STATUS' }>): Step | undefined {
  const guards = eventlessGuards(snapshot);
  if (guards === null) return undefined;
  const context: WorkloadContext = { ...snapshot.context, ...withReplicaStatus(snapshot.context, input) };
  if (rogueFenceDue(context, input)) return undefined; // the root's handler fences it
  for (const g of guards) if (g({ context, event: input }, undefined)) return undefined;
  return { snapshot: { ...snapshot, context } as WorkloadSnapshot, effects: [] };
}

/** Pure. Decides one input with the machine itself, never the fast path (the fast path's test compares against it). */
export function decideWorkloadSlow(snapshot: WorkloadSnapshot, input: WorkloadInput): Step {
  const event = input.type === 'TIMER_FIRED' ? { ...input.event, at: input.at } : input;
  const sc = scope();
  collected = [];
  const next = workloadMachine.transition(snapshot, event as Parameters<typeof workloadMachine.transition>[1], sc);
  return { snapshot: next, effects: toEffects(takeCollected()) };
}

/** Pure. Feeds one recorded input to the machine. Never throws for a well-typed input; unknown events change nothing. */
export function decideWorkload(snapshot: WorkloadSnapshot, input: WorkloadInput): Step {
  if (input.type === 'REPLICA_STATUS' && snapshot.status === 'active') {
    const quick = quietReplicaReport(snapshot, input);
    if (quick) return quick;
  }
  return decideWorkloadSlow(snapshot, input);
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
