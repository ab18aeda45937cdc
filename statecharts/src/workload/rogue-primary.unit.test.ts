import type { Decision } from '@drc/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideWorkload, decideWorkloadSlow } from './api';
import { Sim, setupWith } from './test-harness';

/*
 * Invariant 1 all the time (issue 17 item 5): a copy that reports itself primary and is not the
 * workload's primary at the current epoch is fenced at once, at the current epoch, and recorded
 * with its evidence, whatever the state and whatever autoReprotect says; the fence is a side
 * command that disturbs no operation in progress.
 */

type Issued = Extract<Decision, { type: 'CommandIssued' }>['command'];
const fencesTo = (sim: Sim, site: string): Issued[] =>
  sim.decisions.flatMap(({ decision: d }) => (d.type === 'CommandIssued' && d.command.action === 'fence' && d.command.siteId === site ? [d.command] : []));
const rogues = (sim: Sim) => sim.decisions.flatMap(({ decision: d }) => (d.type === 'RoguePrimaryDetected' ? [d] : []));
const reportsPrimary = (sim: Sim, siteId: string) => sim.send({ type: 'REPLICA_STATUS', siteId, healthy: true, role: 'primary', position: String(sim.now), lagSeconds: 0 });
const answer = (sim: Sim, c: Issued, status: 'done' | 'failed' = 'done') =>
  sim.send({ type: 'COMMAND_RESULT', commandId: c.commandId, siteId: c.siteId, action: c.action, epoch: c.epoch, status, detail: {} });

describe('invariant 1 - a rogue primary is fenced at once, at the current epoch', () => {
  it('protected: a replica that reports itself primary is fenced at epoch 0 and recorded with evidence; the state and the primary stay', () => {
    const sim = new Sim(setupWith({}, ['A', 'B']));
    sim.replicas();
    reportsPrimary(sim, 'B');
    expect(rogues(sim)).toEqual([{ type: 'RoguePrimaryDetected', siteId: 'B', epoch: 0, evidence: [expect.stringMatching(/B reports w as a healthy primary.*primary at epoch 0 is A/)] }]);
    expect(fencesTo(sim, 'B')).toEqual([expect.objectContaining({ epoch: 0, action: 'fence', siteId: 'B' })]);
    expect(sim.state).toBe('protected');
    expect(sim.view).toMatchObject({ primarySite: 'A', epoch: 0 });
  });

  it('one fence per report burst: a repeat within the fence timeout sends nothing more; after its result, a copy still writable is fenced again', () => {
    const sim = new Sim(setupWith({ fenceTimeoutMs: 5000 }, ['A', 'B']));
    sim.replicas();
    reportsPrimary(sim, 'B');
    sim.advance(1000);
    reportsPrimary(sim, 'B');
    expect(fencesTo(sim, 'B')).toHaveLength(1);
    const first = fencesTo(sim, 'B')[0]!;
    answer(sim, first);
    expect(sim.snapshot.context.rogueFences?.B).toMatchObject({ answered: true, commandId: first.commandId });
    reportsPrimary(sim, 'B'); // it said done, yet it is writable
    const again = fencesTo(sim, 'B');
    expect(again).toHaveLength(2);
    expect(again[1]!.commandId).not.toBe(first.commandId);
    expect(rogues(sim)[1]!.evidence.join(' ')).toMatch(/fenced before at this epoch/);
  });

  it('a fence that is not answered within the fence timeout is sent again on the next report', () => {
    const sim = new Sim(setupWith({ fenceTimeoutMs: 5000 }, ['A', 'B']));
    sim.replicas();
    reportsPrimary(sim, 'B');
    sim.advance(5000);
    reportsPrimary(sim, 'B');
    expect(fencesTo(sim, 'B')).toHaveLength(2);
    expect(rogues(sim)[1]!.evidence.join(' ')).toMatch(/not answered within 5000 ms/);
  });

  it('after a failover with autoReprotect off, the old primary back in place as primary is fenced at the new epoch; failedOver stays', () => {
    const sim = new Sim(setupWith({ autoReprotect: false }, ['A', 'B']));
    sim.replicas();
    sim.failOver();
    expect(sim.state).toBe('failedOver');
    const epoch = sim.view.epoch;
    expect(epoch).toBeGreaterThan(0);
    const before = fencesTo(sim, 'A').length;
    sim.send({ type: 'SITE_STATUS', siteId: 'A', status: 'up', evidence: [] });
    reportsPrimary(sim, 'A');
    const fences = fencesTo(sim, 'A');
    expect(fences).toHaveLength(before + 1);
    expect(fences.at(-1)).toMatchObject({ epoch, siteId: 'A' });
    expect(rogues(sim)).toEqual([expect.objectContaining({ siteId: 'A', epoch })]);
    answer(sim, fences.at(-1)!);
    expect(sim.state).toBe('failedOver');
    expect(sim.view).toMatchObject({ primarySite: 'B', epoch });
  });

  it('with autoReprotect on, an old primary that crashed and restarted in place as primary is fenced first, then reprotected as usual', () => {
    const sim = new Sim(setupWith({ autoReprotect: true }, ['A', 'B']));
    sim.replicas();
    sim.send({ type: 'REPLICA_STATUS', siteId: 'A', healthy: false, role: 'stopped' });
    sim.send({ type: 'PRIMARY_FAILED', siteId: 'A', reason: 'stopped', evidence: ['crashed'] });
    sim.advance(sim.setup.policy.debounceMs);
    for (const step of ['fence', 'promote', 'redirect'] as const) {
      if (sim.state.startsWith('failingOver')) sim.answer(step);
    }
    expect(sim.state).toBe('failedOver');
    const epoch = sim.view.epoch;
    const fx = reportsPrimary(sim, 'A'); // back in place, writable
    const commands = fx.flatMap((e) => (e.kind === 'decision' && e.decision.type === 'CommandIssued' ? [`${e.decision.command.action}@${e.decision.command.siteId}#${e.decision.command.epoch}`] : []));
    expect(commands).toEqual([`fence@A#${epoch}`, `reprotect@A#${epoch + 1}`]);
    expect(sim.state).toBe('reprotecting');
    answer(sim, fencesTo(sim, 'A').at(-1)!); // the side fence's result does not finish the reprotect
    expect(sim.state).toBe('reprotecting');
    sim.answer('reprotect');
    expect(sim.state).toBe('protected');
  });

  it('a copy being reprotected is left to the reprotect (a fence after it would stop the replica it makes); if the reprotect fails, the copy is fenced', () => {
    const sim = new Sim(setupWith({ autoReprotect: true, retries: 0 }, ['A', 'B']));
    sim.replicas();
    sim.failOver();
    sim.send({ type: 'SITE_STATUS', siteId: 'A', status: 'up', evidence: [] });
    expect(sim.state).toBe('reprotecting'); // recorded fenced and healthy: reprotected at once
    const before = fencesTo(sim, 'A').length;
    reportsPrimary(sim, 'A');
    expect(fencesTo(sim, 'A')).toHaveLength(before);
    sim.answer('reprotect', 'failed');
    expect(sim.state).toBe('escalated');
    reportsPrimary(sim, 'A');
    expect(fencesTo(sim, 'A')).toHaveLength(before + 1);
    expect(fencesTo(sim, 'A').at(-1)).toMatchObject({ epoch: sim.view.epoch });
  });

  it('during a failover the promotion target reporting primary is not rogue, while a third copy reporting primary is fenced without disturbing the move', () => {
    const sim = new Sim(setupWith({}, ['A', 'B', 'C']));
    sim.replicas(0, ['B']);
    sim.replicas(5, ['C']);
    sim.loseSite();
    sim.advance(sim.setup.policy.debounceMs + sim.setup.policy.fenceMarginMs + 1);
    expect(sim.state).toBe('failingOver.promoting');
    const promote = sim.lastCommand('promote')!;
    expect(promote.siteId).toBe('B');
    reportsPrimary(sim, 'C');
    expect(fencesTo(sim, 'C')).toEqual([expect.objectContaining({ epoch: promote.epoch })]);
    expect(sim.state).toBe('failingOver.promoting');
    answer(sim, fencesTo(sim, 'C')[0]!);
    expect(sim.state).toBe('failingOver.promoting');
    sim.answer('promote'); // B reports itself primary: it is the target
    expect(fencesTo(sim, 'B')).toEqual([]);
    sim.answer('redirect');
    expect(sim.state).toBe('failedOver');
    expect(rogues(sim).map((r) => r.siteId)).toEqual(['C']);
  });

  it('a rogue fence answered while the failover verifies is recorded as answered (not taken for the step\'s own result)', () => {
    const sim = new Sim(setupWith({}, ['A', 'B', 'C']));
    sim.replicas(0, ['B']);
    sim.replicas(5, ['C']);
    sim.loseSite();
    sim.advance(sim.setup.policy.debounceMs + sim.setup.policy.fenceMarginMs + 1);
    const promote = sim.lastCommand('promote')!;
    sim.send({ type: 'COMMAND_RESULT', commandId: promote.commandId, siteId: 'B', action: 'promote', epoch: promote.epoch, status: 'done', detail: {} });
    sim.answer('redirect');
    expect(sim.state).toBe('failingOver.verifying'); // B has not yet reported itself primary
    reportsPrimary(sim, 'C');
    const fence = fencesTo(sim, 'C')[0]!;
    answer(sim, fence);
    expect(sim.snapshot.context.rogueFences?.C).toMatchObject({ commandId: fence.commandId, answered: true });
  });

  it('a promoted target whose failover escalated while verifying is the primary of the epoch it was promoted at: never fenced as rogue', () => {
    const sim = new Sim(setupWith({}, ['A', 'B']));
    sim.replicas();
    sim.loseSite();
    sim.advance(sim.setup.policy.debounceMs + sim.setup.policy.fenceMarginMs + 1);
    const promote = sim.lastCommand('promote')!;
    expect(promote.siteId).toBe('B');
    sim.send({ type: 'COMMAND_RESULT', commandId: promote.commandId, siteId: 'B', action: 'promote', epoch: promote.epoch, status: 'done', detail: {} });
    sim.answer('redirect');
    // B's probe stays unhealthy past the verify timeout: escalated, A fenced, B promoted.
    sim.send({ type: 'REPLICA_STATUS', siteId: 'B', healthy: false, role: 'primary', position: String(sim.now), lagSeconds: 0 });
    sim.advance(sim.setup.policy.verifyTimeoutMs + 1);
    expect(sim.state).toBe('escalated');
    reportsPrimary(sim, 'B'); // B serves after all: the only writable copy
    expect(fencesTo(sim, 'B'), sim.types().join(', ')).toEqual([]);
    expect(rogues(sim)).toEqual([]);
  });

  it('paused: observe, never act, except that two primaries are never left standing', () => {
    const sim = new Sim(setupWith({}, ['A', 'B']));
    sim.replicas();
    sim.send({ type: 'OPERATOR_COMMAND', command: 'pause', actor: { kind: 'operator', id: 'op' }, requestId: 'r1' });
    expect(sim.state).toBe('paused');
    reportsPrimary(sim, 'B');
    expect(fencesTo(sim, 'B')).toHaveLength(1);
    expect(sim.state).toBe('paused');
  });

  it('the fast path never swallows a rogue report: it gives what the machine gives', () => {
    const sim = new Sim(setupWith({}, ['A', 'B']));
    sim.replicas();
    const input = { type: 'REPLICA_STATUS' as const, at: sim.now + 1, siteId: 'B', healthy: true, role: 'primary' as const, lagSeconds: 0 };
    const fast = decideWorkload(sim.snapshot, input);
    const slow = decideWorkloadSlow(sim.snapshot, input);
    expect(fast.effects).toEqual(slow.effects);
    expect(fast.effects.some((e) => e.kind === 'decision' && e.decision.type === 'RoguePrimaryDetected')).toBe(true);
  });
});

describe('invariant 1 - rogue fences over random input sequences (fast-check)', () => {
  const SITES = ['A', 'B', 'C'] as const;
  type Step =
    | { kind: 'advance'; ms: number }
    | { kind: 'answer'; pick: number; status: 'done' | 'failed' }
    | { kind: 'replica'; site: string; healthy: boolean; role: 'primary' | 'replica' | 'fenced' | 'stopped'; lag: number }
    | { kind: 'site'; site: string; lost: boolean }
    | { kind: 'primaryFailed' }
    | { kind: 'operator'; command: 'failover' | 'switchover' | 'reprotect' | 'acknowledge' | 'pause' | 'resume'; site: string };
  const site = fc.constantFrom(...SITES);
  const stepArb: fc.Arbitrary<Step> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 8_000 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('answer' as const), pick: fc.nat(), status: fc.constantFrom('done' as const, 'done' as const, 'failed' as const) }) },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('replica' as const), site, healthy: fc.boolean(), role: fc.constantFrom('primary' as const, 'replica' as const, 'fenced' as const, 'stopped' as const), lag: fc.constantFrom(0, 1, 120) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('site' as const), site, lost: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('primaryFailed' as const) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('operator' as const), command: fc.constantFrom('failover' as const, 'switchover' as const, 'reprotect' as const, 'acknowledge' as const, 'pause' as const, 'resume' as const), site }) },
  );

  it('a report of a writable copy that is not the primary, nor the target of an operation acting, always leaves a fence of it at the current epoch outstanding; no rogue fence ever goes to the primary or to such a target', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(stepArb, { minLength: 5, maxLength: 60 }), (autoReprotect, steps) => {
        const sim = new Sim(setupWith({ autoReprotect, cooldownSeconds: 0, retries: 1, fenceTimeoutMs: 5000, promoteTimeoutMs: 5000, verifyTimeoutMs: 5000 }));
        let req = 0;
        for (const st of steps) {
          const before = sim.snapshot.context;
          let fx: ReturnType<Sim['send']> = [];
          if (st.kind === 'advance') sim.advance(st.ms);
          else if (st.kind === 'answer') {
            const issued = sim.decisions.flatMap(({ decision: d }) => (d.type === 'CommandIssued' ? [d.command] : []));
            const c = issued[st.pick % Math.max(1, issued.length)];
            if (c) fx = answer(sim, c, st.status);
          } else if (st.kind === 'replica') fx = sim.send({ type: 'REPLICA_STATUS', siteId: st.site, healthy: st.healthy, role: st.role, lagSeconds: st.lag, position: String(Math.max(0, sim.now - st.lag * 1000)) });
          else if (st.kind === 'site') sim.send({ type: 'SITE_STATUS', siteId: st.site, status: st.lost ? 'lost' : 'up', evidence: [], ...(st.lost ? { leaseExpiredAt: sim.now } : {}) });
          else if (st.kind === 'primaryFailed') sim.send({ type: 'PRIMARY_FAILED', siteId: sim.view.primarySite, reason: 'unhealthy', evidence: [] });
          else sim.send({ type: 'OPERATOR_COMMAND', command: st.command, actor: { kind: 'operator', id: 'op' }, requestId: `r${req++}`, targetSite: st.site });

          const ctx = sim.snapshot.context;
          for (const e of fx) {
            if (e.kind !== 'decision' || e.decision.type !== 'RoguePrimaryDetected') continue;
            // Never the primary, never the target of an operation that is acting.
            expect(e.decision.siteId).not.toBe(before.primarySite);
            if (before.op && !before.escalation) expect(e.decision.siteId).not.toBe(before.op.target);
            // Nor the copy a promotion made the primary of this epoch, even if its move escalated.
            expect(e.decision.siteId).not.toBe(before.epochPrimary);
            expect(e.decision.epoch).toBe(ctx.epoch);
          }
          if (st.kind === 'replica' && st.role === 'primary' && st.site !== ctx.primarySite && st.site !== ctx.epochPrimary && !(ctx.op && !ctx.escalation && ctx.op.target === st.site)) {
            const f = ctx.rogueFences?.[st.site];
            expect(f, `${st.site} reported primary in ${sim.state}: no fence outstanding`).toBeDefined();
            expect(f!.epoch).toBe(ctx.epoch);
            expect(f!.answered).toBe(false);
            expect(sim.now - f!.issuedAt).toBeLessThan(ctx.policy.fenceTimeoutMs);
            expect(sim.decisions.some(({ decision: d }) => d.type === 'CommandIssued' && d.command.commandId === f!.commandId && d.command.action === 'fence' && d.command.epoch === ctx.epoch && d.command.siteId === st.site)).toBe(true);
          }
        }
      }),
      { numRuns: Number(process.env.DRC_PROPERTY_RUNS ?? 500) },
    );
  });
});
