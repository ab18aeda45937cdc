import { DEFAULT_POLICY, type WorkloadInput } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { failoverRecords, failoverReports } from './failover-report';
import { recordSiteLoss, recordStream, simulateInputs, testSetup } from './testing';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const setup = testSetup({ sites: ['A', 'B', 'C'], at: T0, policy: { fenceMarginMs: 200 } });

/**
 * Site A goes dark: its primary is reported failed at +1 s, the site is declared lost at +1.3 s
 * (lease expired at +1.9 s, so it has fenced itself at +2.1 s); the debounce ends at +2 s.
 * B is the most advanced replica (position 4900 against A's 5000, lag 0.5 s).
 */
function siteLossEpisode(): WorkloadInput[] {
  return simulateInputs(
    setup,
    [
      { type: 'REPLICA_STATUS', at: T0 + 10, siteId: 'A', healthy: true, role: 'primary', position: '5000', lagSeconds: 0 },
      { type: 'REPLICA_STATUS', at: T0 + 20, siteId: 'B', healthy: true, role: 'replica', position: '4900', lagSeconds: 0.5 },
      { type: 'REPLICA_STATUS', at: T0 + 30, siteId: 'C', healthy: true, role: 'replica', position: '4800', lagSeconds: 1 },
      { type: 'PRIMARY_FAILED', at: T0 + 1000, siteId: 'A', reason: 'unhealthy', evidence: ['probe failed: connection refused'] },
      { type: 'SITE_STATUS', at: T0 + 1300, siteId: 'A', status: 'lost', leaseExpiredAt: T0 + 1900, evidence: ['witness C cannot reach A'] },
      { type: 'PRIMARY_FAILED', at: T0 + 1300, siteId: 'A', reason: 'siteLost', evidence: ['lease expired'], leaseExpiredAt: T0 + 1900 },
    ],
    { deadSites: ['A'], until: T0 + 120_000 },
  );
}

describe('failover report - reconstructed from a recorded stream', () => {
  it('times detection, decision, selection, fence, promote, redirect and verify of an automatic failover (selection before the fence)', () => {
    const events = recordStream(setup, siteLossEpisode());
    const reports = failoverReports('db1', events);
    expect(reports).toHaveLength(1);
    const r = reports[0]!;
    expect(r).toMatchObject({
      workloadId: 'db1',
      number: 1,
      of: 1,
      mode: 'unplanned',
      outcome: 'completed',
      fromSite: 'A',
      toSite: 'B',
      epoch: 1,
      actor: { kind: 'coordinator', id: 'test' },
      detectedAt: T0 + 1000,
      decidedAt: T0 + 2000,
      completedAt: T0 + 2300,
      rtoMs: 300,
      totalMs: 1300,
      fencedBy: 'leaseExpiry',
      dataLoss: { seconds: 0.5, oldPrimaryPosition: '5000', promotedPosition: '4900', positionGap: '100' },
    });
    expect(Object.fromEntries(r.phases.map((p) => [p.phase, p.durationMs]))).toEqual({ decision: 1000, select: 0, fence: 100, promote: 100, redirect: 100, verify: 0 });
    expect(r.evidence).toEqual(expect.arrayContaining(['probe failed: connection refused', 'lease expired', 'witness C cannot reach A']));
    expect(r.evidence.some((e) => /^site A lost \(lease expired at /.test(e))).toBe(true);
    expect(new Set(r.evidence).size).toBe(r.evidence.length);
    expect(r.candidates.map((c) => [c.siteId, c.eligible])).toEqual([
      ['B', true],
      ['C', true],
    ]);
    // The fence sent to the dark site never answered; promote and redirect did, after 100 ms.
    expect(r.commands.map((c) => [c.action, c.siteId, c.status ?? 'no answer', c.latencyMs ?? null])).toEqual([
      ['fence', 'A', 'no answer', null],
      ['promote', 'B', 'done', 100],
      ['redirect', 'B', 'done', 100],
    ]);
    const start = events.find((e) => e.type === 'FailoverStarted')!;
    const end = events.find((e) => e.type === 'FailoverCompleted')!;
    expect(r.streamPositions).toEqual({ start: start.position, end: end.position });
  });

  it('names the operator of a planned switchover and reports zero data loss', () => {
    const external: WorkloadInput[] = [
      { type: 'REPLICA_STATUS', at: T0 + 10, siteId: 'B', healthy: true, role: 'replica', position: '100', lagSeconds: 0 },
      { type: 'OPERATOR_COMMAND', at: T0 + 5000, command: 'switchover', targetSite: 'B', actor: { kind: 'operator', id: 'alice' }, requestId: 'r1', reason: 'patching A' },
    ];
    const events = recordStream(setup, simulateInputs(setup, external));
    const [r] = failoverReports('db1', events);
    expect(r).toMatchObject({ mode: 'planned', outcome: 'completed', fromSite: 'A', toSite: 'B', actor: { kind: 'operator', id: 'alice' }, decidedAt: T0 + 5000, dataLoss: { seconds: 0 }, fencedBy: 'agent' });
    expect(r?.detectedAt).toBeUndefined();
    expect(r?.operatorActions).toEqual([{ at: T0 + 5000, command: 'switchover', actor: { kind: 'operator', id: 'alice' }, reason: 'patching A' }]);
    expect(r?.commands.map((c) => c.action)).toEqual(['quiesce', 'fence', 'promote', 'redirect', 'reprotect']);
    expect(r?.phases.find((p) => p.phase === 'fence')?.durationMs).toBe(200); // quiesce + demote, 100 ms each
  });

  it('ends as escalated, with the reason, when the fence is never confirmed; an unfinished one is inProgress', () => {
    const external: WorkloadInput[] = [
      { type: 'REPLICA_STATUS', at: T0 + 10, siteId: 'B', healthy: true, role: 'replica', position: '100', lagSeconds: 0 },
      { type: 'PRIMARY_FAILED', at: T0 + 1000, siteId: 'A', reason: 'unhealthy', evidence: ['disk full'] },
    ];
    const events = recordStream(setup, simulateInputs(setup, external, { deadSites: ['A'] }));
    const [r] = failoverReports('db1', events);
    expect(r).toMatchObject({ outcome: 'escalated', fromSite: 'A', detectedAt: T0 + 1000, decidedAt: T0 + 2000 });
    expect(r?.outcomeReason).toMatch(/fence on A not confirmed within 10000 ms/);
    expect(r?.toSite).toBe('B'); // chosen before the fence (invariant 1a), never promoted
    expect(r?.commands.filter((c) => c.action === 'fence')).toHaveLength(DEFAULT_POLICY.retries + 1);
    expect(r?.commands.filter((c) => c.action === 'promote')).toEqual([]);
    expect(r?.phases.find((p) => p.phase === 'select')).toEqual({ phase: 'select', startedAt: T0 + 2000, endedAt: T0 + 2000, durationMs: 0 });
    expect(r?.phases.find((p) => p.phase === 'fence')).toEqual({ phase: 'fence', startedAt: T0 + 2000 });

    const cut = events.slice(0, events.findIndex((e) => e.type === 'Escalated'));
    const [running] = failoverReports('db1', cut);
    expect(running?.outcome).toBe('inProgress');
    expect(running?.streamPositions.end).toBeUndefined();
  });

  it('numbers failovers in stream order and lists the completed ones as failover records', () => {
    const first = siteLossEpisode();
    const events = recordStream(setup, first);
    const records = failoverRecords('db1', events);
    expect(records).toEqual([expect.objectContaining({ fromSite: 'A', toSite: 'B', epoch: 1, rtoMs: 300, dataLossSeconds: 0.5, completedAt: T0 + 2300 })]);
    expect(failoverReports('db1', events.slice(0, 1))).toEqual([]);
  });
});

describe('recordSiteLoss - the recorded site loss the integration tests and the benchmark use', () => {
  it('records the readings, then one failover A → B with RTO 300 ms and a gap of 100 positions', () => {
    const { events, failedAt } = recordSiteLoss({ workloadId: 'big', at: T0, samples: 200 });
    expect(events.filter((e) => e.type === 'ReplicaStatusObserved').length).toBeGreaterThanOrEqual(203);
    const [r, ...rest] = failoverReports('big', events);
    expect(rest).toEqual([]);
    expect(r).toMatchObject({ outcome: 'completed', fromSite: 'A', toSite: 'B', detectedAt: failedAt, decidedAt: failedAt + 1000, rtoMs: 300, dataLoss: { positionGap: '100', seconds: 0.5 } });
  });
});
