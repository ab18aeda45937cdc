import type { WorkloadInput } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { recordStream, simulateInputs, testSetup } from './testing';
import { whatIf } from './whatif';

const setup = testSetup({ policy: { fenceMarginMs: 0, cooldownSeconds: 0 } });

/**
 * Records a flapping episode the way the live runtime would: the primary goes unhealthy for
 * 3 s, recovers, ... and with a 1 s debounce one flap outlasts it and a failover starts.
 * Timers fire at their due time and commands succeed 100 ms after they are issued.
 */
function recordFlapping(): ReturnType<typeof recordStream> {
  const external: WorkloadInput[] = [
    { type: 'REPLICA_STATUS', at: 10, siteId: 'B', healthy: true, role: 'replica', position: '100', lagSeconds: 0 },
    { type: 'PRIMARY_FAILED', at: 10_000, siteId: 'A', reason: 'unhealthy', evidence: ['flap 1'] },
    { type: 'PRIMARY_RECOVERED', at: 10_500, siteId: 'A' },
    { type: 'PRIMARY_FAILED', at: 20_000, siteId: 'A', reason: 'unhealthy', evidence: ['flap 2'] },
    { type: 'PRIMARY_RECOVERED', at: 23_000, siteId: 'A' },
  ];
  return recordStream(setup, simulateInputs(setup, external));
}

describe('what-if - re-running recorded inputs under another policy', () => {
  it('reports the failover that a longer debounce would have avoided during a flapping episode', () => {
    const events = recordFlapping();
    expect(events.some((e) => e.type === 'FailoverStarted')).toBe(true);
    const report = whatIf(events, { debounceMs: 5000 });
    expect(report.baseline.map((e) => e.type)).toContain('FailoverStarted');
    expect(report.alternative.map((e) => e.type)).not.toContain('FailoverStarted');
    expect(report.differences.join('\n')).toMatch(/FailoverStarted would not have happened/);
    expect(report.finalState.alternative).toBe('protected');
  });

  it('finds no difference when the policy is unchanged', () => {
    const events = recordFlapping();
    const report = whatIf(events, {});
    expect(report.differences).toEqual([]);
    expect(report.alternative).toEqual(report.baseline);
  });

  it('says how much later a failover would have started with a longer debounce that still expires', () => {
    const events = recordFlapping();
    const report = whatIf(events, { debounceMs: 2000 });
    expect(report.differences.join('\n')).toMatch(/FailoverStarted would have come 1 s later/);
  });

  it("takes the old primary's later health reports as its recovery in a world where it stayed primary", () => {
    // As the live coordinator records it: once A is no longer primary, A's health arrives as
    // replica reports, not as primary recoveries.
    const external: WorkloadInput[] = [
      { type: 'REPLICA_STATUS', at: 10, siteId: 'B', healthy: true, role: 'replica', position: '100', lagSeconds: 0 },
      { type: 'PRIMARY_FAILED', at: 10_000, siteId: 'A', reason: 'unhealthy', evidence: ['flap 1'] },
      { type: 'REPLICA_STATUS', at: 12_000, siteId: 'A', healthy: true, role: 'replica', position: '100', lagSeconds: 0 },
      { type: 'REPLICA_STATUS', at: 14_000, siteId: 'A', healthy: false, role: 'replica', position: '100', lagSeconds: 0 },
      { type: 'REPLICA_STATUS', at: 16_000, siteId: 'A', healthy: true, role: 'replica', position: '100', lagSeconds: 0 },
    ];
    const events = recordStream(setup, simulateInputs(setup, external));
    expect(events.filter((e) => e.type === 'FailoverCompleted')).toHaveLength(1);
    const report = whatIf(events, { debounceMs: 3000 });
    expect(report.alternative.map((e) => e.type)).not.toContain('FailoverStarted');
    expect(report.differences.join('\n')).toMatch(/FailoverStarted would not have happened/);
    expect(report.assumptions.join('\n')).toMatch(/A's recorded health taken as a primary recovery/);
    expect(report.finalState.alternative).toBe('protected');
    // Unchanged policy: the baseline world is the recorded one, nothing derived changes it.
    expect(whatIf(events, {}).differences).toEqual([]);
  });

});
