import type { Decision, OperatorCommandName, WorkloadInput } from '@drc/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideWorkload, persistWorkload, startWorkload, viewWorkload, type Effect, type WorkloadSnapshot } from './api';
import type { WorkloadContext } from './context';
import { advanceTimers, setupWith } from './test-harness';

/*
 * Safety invariants over random input sequences: whatever arrives, in whatever order,
 * the machine never orders two primaries, never promotes before a fence, never loses more
 * data automatically than the policy allows, never flaps, never lowers an epoch, never throws.
 */

const SITES = ['A', 'B', 'C', 'Z'] as const; // Z is unknown to the workload
const COMMANDS: OperatorCommandName[] = ['failover', 'switchover', 'failback', 'reprotect', 'approve', 'reject', 'pause', 'resume', 'acknowledge', 'drillStart', 'drillCleanup'];

type Step =
  | { kind: 'advance'; ms: number }
  | { kind: 'answer'; pick: number; status: 'done' | 'failed' | 'refused'; stale: boolean }
  | { kind: 'replica'; site: string; healthy: boolean; role: 'primary' | 'replica' | 'fenced' | 'stopped'; lag: number }
  | { kind: 'site'; site: string; lost: boolean }
  | { kind: 'primaryFailed'; site: string; reason: 'siteLost' | 'unhealthy'; leaseExpired: boolean }
  | { kind: 'primaryRecovered'; site: string }
  | { kind: 'operator'; command: OperatorCommandName; site?: string };

const site = fc.constantFrom(...SITES);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40_000 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('answer' as const), pick: fc.nat(), status: fc.constantFrom('done' as const, 'done' as const, 'failed' as const, 'refused' as const), stale: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('replica' as const), site, healthy: fc.boolean(), role: fc.constantFrom('primary' as const, 'replica' as const, 'fenced' as const, 'stopped' as const), lag: fc.constantFrom(0, 0, 1, 20, 120) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('site' as const), site, lost: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('primaryFailed' as const), site, reason: fc.constantFrom('siteLost' as const, 'unhealthy' as const), leaseExpired: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('primaryRecovered' as const), site }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('operator' as const), command: fc.constantFrom(...COMMANDS), site: fc.option(site, { nil: undefined }) }) },
);

const policyArb = fc.record({
  maxDataLossSeconds: fc.constantFrom(0, 10, 60),
  failoverMode: fc.constantFrom('automatic' as const, 'automatic' as const, 'approval' as const, 'manual' as const),
  cooldownSeconds: fc.constantFrom(0, 60, 300),
  retries: fc.constantFrom(0, 1, 2),
  fenceMarginMs: fc.constantFrom(0, 500, 5000),
  autoReprotect: fc.boolean(),
  autoFailback: fc.boolean(),
});

interface Trace {
  decisions: Array<{ at: number; d: Decision; ctxBefore: WorkloadContext; ctxAfter: WorkloadContext }>;
  inputs: WorkloadInput[];
}

/** Runs a random scenario like the runtime would (timers fire as time passes) and records everything. */
type PolicyOverride = typeof policyArb extends fc.Arbitrary<infer T> ? T : never;

function run(policy: PolicyOverride, steps: Step[]): Trace {
  const setup = setupWith({ ...policy, debounceMs: 1000, fenceTimeoutMs: 5000, promoteTimeoutMs: 5000, verifyTimeoutMs: 5000, rpoSeconds: 30 });
  let snap: WorkloadSnapshot = startWorkload(setup).snapshot;
  let now = 0;
  const timers = new Map<string, { due: number; event: { type: string } }>();
  const issued: Array<Extract<Decision, { type: 'CommandIssued' }>['command']> = [];
  const trace: Trace = { decisions: [], inputs: [] };
  const feed = (input: WorkloadInput) => {
    const before = snap.context;
    const step = decideWorkload(snap, input);
    snap = step.snapshot;
    trace.inputs.push(input);
    apply(input.at, step.effects, before);
  };
  const apply = (at: number, effects: Effect[], before: WorkloadContext) => {
    for (const e of effects) {
      if (e.kind === 'schedule') timers.set(e.timerId, { due: at + e.delayMs, event: e.event });
      else if (e.kind === 'cancel') timers.delete(e.timerId);
      else {
        trace.decisions.push({ at, d: e.decision, ctxBefore: before, ctxAfter: snap.context });
        if (e.decision.type === 'CommandIssued') issued.push(e.decision.command);
      }
    }
  };
  const actor = { kind: 'operator' as const, id: 'op' };
  let req = 0;
  for (const s of steps) {
    const primary = snap.context.primarySite;
    switch (s.kind) {
      case 'advance':
        now = advanceTimers(timers, now, now + s.ms, feed);
        break;
      case 'answer': {
        if (issued.length === 0) break;
        const c = s.stale ? issued[s.pick % issued.length]! : issued[issued.length - 1]!;
        feed({ type: 'COMMAND_RESULT', at: now, commandId: c.commandId, siteId: c.siteId, action: c.action, epoch: c.epoch, status: s.status, detail: {} });
        if (c.action === 'promote' && s.status === 'done') feed({ type: 'REPLICA_STATUS', at: now, siteId: c.siteId, healthy: true, role: 'primary', lagSeconds: 0, position: String(now) });
        break;
      }
      case 'replica':
        feed({ type: 'REPLICA_STATUS', at: now, siteId: s.site, healthy: s.healthy, role: s.role, lagSeconds: s.lag, position: String(Math.max(0, now - s.lag * 1000)) });
        break;
      case 'site':
        feed({ type: 'SITE_STATUS', at: now, siteId: s.site, status: s.lost ? 'lost' : 'up', evidence: [], ...(s.lost ? { leaseExpiredAt: now } : {}) });
        break;
      case 'primaryFailed': {
        const target = s.site === 'Z' ? 'Z' : primary;
        feed({ type: 'PRIMARY_FAILED', at: now, siteId: target, reason: s.reason, evidence: [], ...(s.leaseExpired ? { leaseExpiredAt: now } : {}) });
        break;
      }
      case 'primaryRecovered':
        feed({ type: 'PRIMARY_RECOVERED', at: now, siteId: s.site === 'Z' ? 'Z' : primary });
        break;
      case 'operator':
        feed({ type: 'OPERATOR_COMMAND', at: now, command: s.command, actor, requestId: `r${req++}`, ...(s.site ? { targetSite: s.site } : {}) });
        break;
    }
    const view = viewWorkload(snap);
    if (view.epoch < (trace.decisions.at(-1)?.ctxBefore.epoch ?? 0)) throw new Error('epoch decreased');
  }
  return trace;
}

function checkInvariants(trace: Trace): void {
  const promotedInEpoch = new Map<number, Set<string>>();
  let fencedInOp = false;
  let chosenInOp = false;
  let lastAutoCompletion: number | undefined;
  let acknowledgedSince = false;
  let lastEpoch = 0;
  for (const [i, { at, d, ctxBefore, ctxAfter }] of trace.decisions.entries()) {
    // epochs never decrease
    expect(ctxAfter.epoch, `epoch decreased at decision ${i}`).toBeGreaterThanOrEqual(lastEpoch);
    lastEpoch = ctxAfter.epoch;
    if (d.type === 'FailoverStarted') {
      fencedInOp = false;
      chosenInOp = false;
    }
    if (d.type === 'ReplicaSelected' && d.chosen !== undefined) chosenInOp = true;
    // invariant 1a: a failover fences the primary only once a promotable replica is chosen
    const op = ctxAfter.op;
    if (d.type === 'CommandIssued' && d.command.action === 'fence' && op?.kind === 'failover' && d.command.commandId === op.commandId) {
      expect(chosenInOp && op.target !== undefined, `fence of ${d.command.siteId} with no replica chosen`).toBe(true);
      expect(op.target, 'the chosen replica is the fenced site').not.toBe(d.command.siteId);
    }
    if (d.type === 'FenceConfirmed') {
      fencedInOp = true;
      // invariant 1: fenced by lease expiry only after the lease expired plus the margin
      if (d.by === 'leaseExpiry') {
        const expired = ctxBefore.op?.leaseExpiredAt ?? ctxAfter.op?.leaseExpiredAt;
        expect(expired, 'lease-expiry fence without an expired lease').toBeDefined();
        expect(at).toBeGreaterThanOrEqual((expired ?? Infinity) + ctxBefore.policy.fenceMarginMs);
      }
    }
    if (d.type === 'CommandIssued' && d.command.action === 'promote') {
      // invariant 1: never a promotion before a confirmed fence (or expired lease) in this move
      expect(fencedInOp, `promote of ${d.command.siteId} before the old primary was fenced`).toBe(true);
      // invariant 1/2: one primary per epoch
      const set = promotedInEpoch.get(d.command.epoch) ?? new Set<string>();
      set.add(d.command.siteId);
      promotedInEpoch.set(d.command.epoch, set);
      expect(set.size, `two sites promoted in epoch ${d.command.epoch}`).toBe(1);
      expect(d.command.epoch).toBeGreaterThan(ctxBefore.epoch - 1);
    }
    // invariant 5: no automatic promotion loses more than allowed
    if (d.type === 'ReplicaSelected' && d.chosen !== undefined && !ctxAfter.op?.allowDataLoss) {
      const lag = d.candidates.find((c) => c.siteId === d.chosen)?.lagSeconds ?? Infinity;
      expect(lag, `automatic promotion of ${d.chosen} with lag ${lag}`).toBeLessThanOrEqual(ctxBefore.policy.maxDataLossSeconds);
    }
    // invariant 6: no automatic failover within the cooldown unless acknowledged
    if (d.type === 'FailoverStarted' && d.mode === 'unplanned' && d.actor === undefined) {
      if (lastAutoCompletion !== undefined && !acknowledgedSince) {
        expect(at - lastAutoCompletion, 'automatic failover inside the cooldown').toBeGreaterThanOrEqual(ctxBefore.policy.cooldownSeconds * 1000);
      }
    }
    if (d.type === 'FailoverCompleted' && d.dataLossSeconds !== 0) {
      lastAutoCompletion = at;
      acknowledgedSince = false;
    }
  }
  for (const input of trace.inputs) if (input.type === 'OPERATOR_COMMAND' && input.command === 'acknowledge') acknowledgedSince = true;
}

describe('workload machine - safety invariants over random input sequences (fast-check)', () => {
  it('holds invariants 1, 1a, 2, 5, 6 and monotone epochs on 1,500 random sequences, and never throws', () => {
    fc.assert(
      fc.property(policyArb, fc.array(stepArb, { minLength: 5, maxLength: 60 }), (policy, steps) => {
        checkInvariants(run(policy, steps));
      }),
      { numRuns: Number(process.env.DRC_PROPERTY_RUNS ?? 1500), verbose: 1 },
    );
  });

  it('is deterministic: folding the same inputs twice gives byte-identical snapshots and effects', () => {
    fc.assert(
      fc.property(policyArb, fc.array(stepArb, { minLength: 5, maxLength: 40 }), (policy, steps) => {
        const trace = run(policy, steps);
        const fold = () => {
          const setup = setupWith({ ...policy, debounceMs: 1000, fenceTimeoutMs: 5000, promoteTimeoutMs: 5000, verifyTimeoutMs: 5000, rpoSeconds: 30 });
          let snap = startWorkload(setup).snapshot;
          const effects: Effect[] = [];
          for (const input of trace.inputs) {
            const step = decideWorkload(snap, input);
            snap = step.snapshot;
            effects.push(...step.effects);
          }
          return JSON.stringify({ snapshot: persistWorkload(snap), effects });
        };
        expect(fold()).toBe(fold());
      }),
      { numRuns: 1000 },
    );
  });
});
