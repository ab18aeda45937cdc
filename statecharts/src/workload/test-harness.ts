import { DEFAULT_POLICY, type Decision, type Policy, type WorkloadInput, type WorkloadSetup } from '@drc/contracts';
import { decideWorkload, startWorkload, stateOf, viewWorkload, type Effect, type WorkloadSnapshot } from './api';

/** An input whose time the harness fills in. */
export type InputAtNow = WorkloadInput extends infer T ? (T extends WorkloadInput ? Omit<T, 'at'> & { at?: number } : never) : never;

/** Pure test helper: a two- or three-site workload with a policy override. */
export function setupWith(policy: Partial<Policy> = {}, sites = ['A', 'B', 'C']): WorkloadSetup {
  return {
    workloadId: 'w',
    primarySite: sites[0]!,
    sites: sites.map((siteId, i) => ({ siteId, priority: i + 1 })),
    policy: { ...DEFAULT_POLICY, debounceMs: 1000, fenceMarginMs: 500, cooldownSeconds: 300, ...policy },
    epoch: 0,
    at: 0,
  };
}

/**
 * Pure test helper: fires, in due order, every timer due by `until`, each fed at its due time
 * (deleting it from `timers` first); returns `until` as the new clock.
 */
export function advanceTimers(timers: Map<string, { due: number; event: { type: string } }>, now: number, until: number, feed: (input: WorkloadInput) => void): number {
  for (;;) {
    const next = [...timers.entries()].sort((a, b) => a[1].due - b[1].due)[0];
    if (!next || next[1].due > until) break;
    timers.delete(next[0]);
    feed({ type: 'TIMER_FIRED', at: Math.max(now, next[1].due), timerId: next[0], event: next[1].event });
  }
  return until;
}

/**
 * Pure test helper: drives the machine the way the runtime does, on a virtual clock. Timers
 * fire when time passes their due time; commands are answered only when the test says so.
 */
export class Sim {
  snapshot: WorkloadSnapshot;
  now = 0;
  readonly decisions: Array<{ at: number; decision: Decision }> = [];
  readonly effects: Effect[] = [];
  private timers = new Map<string, { due: number; event: { type: string } }>();

  constructor(readonly setup: WorkloadSetup) {
    const start = startWorkload(setup);
    this.snapshot = start.snapshot;
    this.apply(setup.at, start.effects);
  }

  get state(): string {
    return stateOf(this.snapshot);
  }
  get view() {
    return viewWorkload(this.snapshot);
  }

  private apply(at: number, effects: Effect[]): void {
    for (const e of effects) {
      this.effects.push(e);
      if (e.kind === 'schedule') this.timers.set(e.timerId, { due: at + e.delayMs, event: e.event });
      else if (e.kind === 'cancel') this.timers.delete(e.timerId);
      else this.decisions.push({ at, decision: e.decision });
    }
  }

  /** Feeds one input at the current virtual time (or its own `at` when later). */
  send(input: InputAtNow): Effect[] {
    const at = Math.max(this.now, input.at ?? this.now);
    this.now = at;
    const step = decideWorkload(this.snapshot, { ...input, at } as WorkloadInput);
    this.snapshot = step.snapshot;
    this.apply(at, step.effects);
    return step.effects;
  }

  /** Advances the virtual clock, firing due timers in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const next = [...this.timers.entries()].sort((a, b) => a[1].due - b[1].due)[0];
      if (!next || next[1].due > until) break;
      this.timers.delete(next[0]);
      this.send({ type: 'TIMER_FIRED', at: next[1].due, timerId: next[0], event: next[1].event });
    }
    this.now = until;
  }

  pendingTimers(): Array<{ timerId: string; due: number }> {
    return [...this.timers.entries()].map(([timerId, t]) => ({ timerId, due: t.due }));
  }

  /** The newest CommandIssued for an action (optionally at a site). */
  lastCommand(action: string, siteId?: string) {
    for (let i = this.decisions.length - 1; i >= 0; i--) {
      const d = this.decisions[i]!.decision;
      if (d.type === 'CommandIssued' && d.command.action === action && (siteId === undefined || d.command.siteId === siteId)) return d.command;
    }
    return undefined;
  }

  /** Answers the newest command for `action` with a status. */
  answer(action: string, status: 'done' | 'failed' | 'refused' = 'done', reason?: string): void {
    const c = this.lastCommand(action);
    if (!c) throw new Error(`no ${action} command issued`);
    this.send({ type: 'COMMAND_RESULT', commandId: c.commandId, siteId: c.siteId, action: c.action, epoch: c.epoch, status, detail: {}, ...(reason ? { reason } : {}) });
    if (action === 'promote' && status === 'done') this.send({ type: 'REPLICA_STATUS', siteId: c.siteId, healthy: true, role: 'primary', position: String(this.now), lagSeconds: 0 });
  }

  types(): string[] {
    return this.decisions.map((d) => d.decision.type);
  }

  has(type: Decision['type']): boolean {
    return this.decisions.some((d) => d.decision.type === type);
  }

  /** Replicas report in: in sync unless told otherwise. */
  replicas(lagSeconds = 0, sites = this.setup.sites.map((s) => s.siteId).filter((s) => s !== this.view.primarySite)): void {
    for (const siteId of sites) this.send({ type: 'REPLICA_STATUS', siteId, healthy: true, role: 'replica', position: String(1000 - lagSeconds), lagSeconds });
  }

  /** The primary's site is lost (lease expired now) and the coordinator reports it. */
  loseSite(siteId = this.view.primarySite): void {
    this.send({ type: 'SITE_STATUS', siteId, status: 'lost', leaseExpiredAt: this.now, evidence: [] });
    if (siteId === this.view.primarySite) this.send({ type: 'PRIMARY_FAILED', siteId, reason: 'siteLost', evidence: ['lease expired'], leaseExpiredAt: this.now });
  }

  /** Runs a whole unplanned failover from a site loss to failedOver, answering every command. */
  failOver(): void {
    this.loseSite();
    this.advance(this.setup.policy.debounceMs + this.setup.policy.fenceMarginMs + 1);
    if (this.state === 'failingOver.promoting') this.answer('promote');
    if (this.state === 'failingOver.redirecting') this.answer('redirect');
  }
}
