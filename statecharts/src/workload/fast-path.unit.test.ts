import type { Decision, OperatorCommandName, WorkloadInput } from '@drc/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideWorkload, decideWorkloadSlow, persistWorkload, startWorkload, stateOf, type Effect, type WorkloadSnapshot } from './api';
import { advanceTimers, setupWith } from './test-harness';

/*
 * decideWorkload answers most replica reports without running the machine (only facts change).
 * Over random input sequences, in every state the machine reaches, the fast path must give
 * exactly what the machine gives: the same state, context, history and effects, step by step.
 */

const SITES = ['A', 'B', 'C', 'Z'] as const;
const COMMANDS: OperatorCommandName[] = ['failover', 'switchover', 'failback', 'reprotect', 'approve', 'reject', 'pause', 'resume', 'acknowledge', 'drillStart', 'drillCleanup'];
type Step =
  | { kind: 'advance'; ms: number }
  | { kind: 'answer'; pick: number; status: 'done' | 'failed' | 'refused' }
  | { kind: 'replica'; site: string; healthy: boolean; role: 'primary' | 'replica' | 'fenced' | 'stopped'; lag: number | undefined; position: number | undefined }
  | { kind: 'site'; site: string; lost: boolean }
  | { kind: 'primaryFailed'; site: string }
  | { kind: 'primaryRecovered'; site: string }
  | { kind: 'operator'; command: OperatorCommandName; site?: string };
const site = fc.constantFrom(...SITES);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 20_000 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('answer' as const), pick: fc.nat(), status: fc.constantFrom('done' as const, 'done' as const, 'failed' as const, 'refused' as const) }) },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('replica' as const),
      site,
      healthy: fc.boolean(),
      role: fc.constantFrom('primary' as const, 'replica' as const, 'replica' as const, 'fenced' as const, 'stopped' as const),
      lag: fc.option(fc.constantFrom(0, 0, 1, 20, 120), { nil: undefined }),
      position: fc.option(fc.nat({ max: 100_000 }), { nil: undefined }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('site' as const), site, lost: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('primaryFailed' as const), site }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('primaryRecovered' as const), site }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('operator' as const), command: fc.constantFrom(...COMMANDS), site: fc.option(site, { nil: undefined }) }) },
);

function lockstep(policy: { autoFailback: boolean; autoReprotect: boolean; failoverMode: 'automatic' | 'approval' }, steps: Step[]): { states: Set<string>; quickSteps: number } {
  const setup = setupWith({ ...policy, debounceMs: 1000, fenceTimeoutMs: 5000, promoteTimeoutMs: 5000, verifyTimeoutMs: 5000, rpoSeconds: 10, cooldownSeconds: 0 });
  let fast: WorkloadSnapshot = startWorkload(setup).snapshot;
  let slow: WorkloadSnapshot = startWorkload(setup).snapshot;
  let now = 0;
  const timers = new Map<string, { due: number; event: { type: string } }>();
  const issued: Array<Extract<Decision, { type: 'CommandIssued' }>['command']> = [];
  const states = new Set<string>();
  let quickSteps = 0;
  let req = 0;
  const feed = (input: WorkloadInput) => {
    const a = decideWorkload(fast, input);
    const b = decideWorkloadSlow(slow, input);
    if (input.type === 'REPLICA_STATUS' && a.snapshot.context !== fast.context && a.snapshot._nodes === fast._nodes && a.effects.length === 0) quickSteps++;
    expect(stateOf(a.snapshot)).toBe(stateOf(b.snapshot));
    expect(a.snapshot.value).toEqual(b.snapshot.value);
    expect(a.snapshot.context).toEqual(b.snapshot.context);
    expect(persistWorkload(a.snapshot)).toEqual(persistWorkload(b.snapshot));
    expect(a.effects).toEqual(b.effects);
    fast = a.snapshot;
    slow = b.snapshot;
    states.add(stateOf(fast));
    for (const e of a.effects as Effect[]) {
      if (e.kind === 'schedule') timers.set(e.timerId, { due: input.at + e.delayMs, event: e.event });
      else if (e.kind === 'cancel') timers.delete(e.timerId);
      else if (e.decision.type === 'CommandIssued') issued.push(e.decision.command);
    }
  };
  for (const st of steps) {
    switch (st.kind) {
      case 'advance':
        now = advanceTimers(timers, now, now + st.ms, feed);
        break;
      case 'answer': {
        const c = issued[st.pick % Math.max(1, issued.length)];
        if (c) feed({ type: 'COMMAND_RESULT', at: now, commandId: c.commandId, siteId: c.siteId, action: c.action, epoch: c.epoch, status: st.status, detail: {} });
        break;
      }
      case 'replica':
        feed({ type: 'REPLICA_STATUS', at: now, siteId: st.site, healthy: st.healthy, role: st.role, ...(st.lag !== undefined ? { lagSeconds: st.lag } : {}), ...(st.position !== undefined ? { position: String(st.position) } : {}) });
        break;
      case 'site':
        feed({ type: 'SITE_STATUS', at: now, siteId: st.site, status: st.lost ? 'lost' : 'up', ...(st.lost ? { leaseExpiredAt: now } : {}), evidence: [] });
        break;
      case 'primaryFailed':
        feed({ type: 'PRIMARY_FAILED', at: now, siteId: st.site, reason: 'unhealthy', evidence: ['probe failed'] });
        break;
      case 'primaryRecovered':
        feed({ type: 'PRIMARY_RECOVERED', at: now, siteId: st.site });
        break;
      case 'operator':
        feed({ type: 'OPERATOR_COMMAND', at: now, requestId: `r${++req}`, command: st.command, actor: { kind: 'operator', id: 'op' }, ...(st.site ? { targetSite: st.site } : {}) } as WorkloadInput);
        break;
    }
  }
  return { states, quickSteps };
}

describe('decideWorkload fast path', () => {
  it('gives the same snapshot and effects as the machine for every input, in every state reached', () => {
    const seen = new Set<string>();
    let quick = 0;
    fc.assert(
      fc.property(
        fc.record({ autoFailback: fc.boolean(), autoReprotect: fc.boolean(), failoverMode: fc.constantFrom('automatic' as const, 'approval' as const) }),
        fc.array(stepArb, { minLength: 1, maxLength: 80 }),
        (policy, steps) => {
          const r = lockstep(policy, steps);
          for (const s of r.states) seen.add(s);
          quick += r.quickSteps;
        },
      ),
      { numRuns: 300 },
    );
    // The property above means something only if the fast path ran, across several states.
    expect(quick).toBeGreaterThan(100);
    expect(seen.size).toBeGreaterThan(5);
  });
});
