import type { WorkloadInput } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { foldWorkloadStream } from './fold';
import { verifyReplay } from './replay';
import { recordStream, simulateInputs, testSetup } from './testing';

const setup = testSetup({ policy: { fenceMarginMs: 200 } });

/** A flapping primary, then a real failure with a failover (timers and results as a runtime records them). */
function episode(): WorkloadInput[] {
  return simulateInputs(setup, [
    { type: 'REPLICA_STATUS', at: 10, siteId: 'B', healthy: true, role: 'replica', position: '100', lagSeconds: 0.5 },
    { type: 'PRIMARY_FAILED', at: 1000, siteId: 'A', reason: 'unhealthy', evidence: ['probe failed'] },
    { type: 'PRIMARY_RECOVERED', at: 1500, siteId: 'A' },
    { type: 'SITE_STATUS', at: 5000, siteId: 'A', status: 'lost', leaseExpiredAt: 4800, evidence: [] },
    { type: 'PRIMARY_FAILED', at: 5000, siteId: 'A', reason: 'siteLost', evidence: ['lease expired'], leaseExpiredAt: 4800 },
  ], { deadSites: ['A'] });
}

describe('replay - invariant 4: folding a recorded stream reproduces every decision', () => {
  it('verifies a recorded stream cleanly with the same statechart and policy', () => {
    const events = recordStream(setup, episode());
    const report = verifyReplay(events);
    expect(report.mismatches).toEqual([]);
    expect(report.inputs).toBeGreaterThan(5);
    expect(events.some((e) => e.type === 'FailoverCompleted')).toBe(true);
    expect(foldWorkloadStream(events).version).toBe(events.length);
  });

  it('names the exact position where a changed debounce makes decisions diverge', () => {
    const events = recordStream(setup, episode());
    const report = verifyReplay(events, { policy: { debounceMs: 5000 } });
    const firstFailure = events.find((e) => e.type === 'PrimaryFailureObserved');
    expect(report.mismatches[0]).toMatchObject({ kind: 'decisions', position: firstFailure?.position });
    expect(JSON.stringify(report.mismatches[0]?.recorded)).toContain('"delayMs":1000');
    expect(JSON.stringify(report.mismatches[0]?.replayed)).toContain('"delayMs":5000');
  });

  it('reports a tampered decision at its input position', () => {
    const events = recordStream(setup, episode());
    const started = events.findIndex((e) => e.type === 'FailoverStarted');
    const tampered = events.map((e, i) => (i === started ? { ...e, data: { ...(e.data as object), fromSite: 'B' } } : e));
    const report = verifyReplay(tampered);
    expect(report.mismatches).toHaveLength(1);
    let input = started;
    while (!['TimerFired'].includes(tampered[input]!.type)) input--;
    expect(report.mismatches[0]?.position).toBe(tampered[input]!.position);
  });
});
