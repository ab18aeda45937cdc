import { describe, expect, it } from 'vitest';
import { decideWorkload, persistWorkload, restoreWorkload, stateOf } from './api';
import { Sim, setupWith } from './test-harness';

describe('snapshots - a persisted workload restores exactly, history included', () => {
  it('resumes a workload paused after a failover into failedOver, not into the initial state', () => {
    const sim = new Sim(setupWith({ autoReprotect: false }, ['A', 'B']));
    sim.replicas();
    sim.failOver();
    expect(sim.state).toBe('failedOver');
    sim.send({ type: 'OPERATOR_COMMAND', command: 'pause', actor: { kind: 'operator', id: 'o' }, requestId: 'p' });
    const restored = restoreWorkload(JSON.parse(JSON.stringify(persistWorkload(sim.snapshot))));
    expect(JSON.stringify(persistWorkload(restored))).toBe(JSON.stringify(persistWorkload(sim.snapshot)));
    const resume = { type: 'OPERATOR_COMMAND' as const, at: sim.now + 1, command: 'resume' as const, actor: { kind: 'operator' as const, id: 'o' }, requestId: 'r' };
    const a = decideWorkload(sim.snapshot, resume);
    const b = decideWorkload(restored, resume);
    expect(stateOf(b.snapshot)).toBe('failedOver');
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });
});
