import type { Decision } from '@drc/contracts';
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
