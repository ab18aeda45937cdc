import { buildTimeline, failoverReports, recordSiteLoss } from '@drc/history';
import { describe, expect, it } from 'vitest';
import { csv } from '../output';
import { renderReport, renderTimeline, timelineCsv, visibleEntries } from './history';
import { timeOption } from './time-option';
import { failoversBy } from './workloads';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const recorded = () => recordSiteLoss({ workloadId: 'orders', at: T0, samples: 2 });

describe('drc history - timeline rendering', () => {
  it('prints one line per event with time, position, kind and what happened; details indented beneath', () => {
    const { events } = recorded();
    const entries = visibleEntries(buildTimeline(events));
    const text = renderTimeline(entries);
    expect(text.split('\n')[0]).toMatch(/^2026-01-01 00:00:00.000Z {2}#1 +registration +registered: primary A, sites A\(1\) B\(2\) C\(3\), epoch 0$/);
    expect(text).toMatch(/#\d+ +observation +primary A failed \(unhealthy\)\s+\[system:test\]\n\s+evidence: probe failed: connection refused/);
    expect(text).toMatch(/decision +replica B selected from 2 candidates\n\s+candidate B: eligible; .*chosen/);
    expect(text).toMatch(/result +promote on B: done after 0.10 s/);
    expect(text).toMatch(/decision +failover completed A → B, epoch 1, RTO 0.30 s, data loss 0.5 s/);
    expect(renderTimeline([])).toBe('no events recorded in that range');
  });

  it('hides timer bookkeeping unless --all', () => {
    const entries = buildTimeline(recorded().events);
    expect(entries.some((e) => e.type === 'TimerScheduled')).toBe(true);
    expect(visibleEntries(entries).some((e) => e.type === 'TimerScheduled' || e.type === 'TimerCancelled')).toBe(false);
    expect(visibleEntries(entries, true)).toHaveLength(entries.length);
    expect(visibleEntries(entries).some((e) => e.type === 'TimerFired')).toBe(true);
  });

  it('CSV: a header, one row per entry, fields with commas or quotes quoted', () => {
    const entries = buildTimeline(recorded().events);
    const lines = timelineCsv(entries).split('\r\n');
    expect(lines[0]).toBe('position,recordedAt,at,kind,type,actor,summary,details');
    expect(lines).toHaveLength(entries.length + 2); // header + rows + the empty string after the last CRLF
    const registered = lines[1]!;
    expect(registered).toMatch(/^1,,2026-01-01T00:00:00.000Z,registration,WorkloadRegistered,coordinator:test,"registered: primary A, sites A\(1\) B\(2\) C\(3\), epoch 0","policy: /);
    expect(csv(['a'], [['say "hi"'], ['x\ny']])).toBe('a\r\n"say ""hi"""\r\n"x\ny"\r\n');
  });
});

describe('drc report - one failover as text', () => {
  it('shows outcome, phases with durations, RTO, data loss with the position gap, evidence, candidates and commands', () => {
    const [report] = failoverReports('orders', recorded().events);
    const text = renderReport(report!);
    expect(text).toMatch(/^failover 1 of 1 {2}orders {2}A → B {2}completed {2}\(unplanned, epoch 1\)/);
    expect(text).toMatch(/by coordinator test: siteLost/);
    expect(text).toMatch(/decision +2026-01-01 00:00:04.000Z +1.00 s/);
    expect(text).toMatch(/fence \(lease expired\) +2026-01-01 00:00:05.000Z +0.10 s/);
    expect(text).toMatch(/promote +\S+ \S+ +0.10 s/);
    expect(text).toMatch(/RTO 0.30 s {2}\(decision → verified\) {3}total 1.30 s/);
    expect(text).toMatch(/data loss 0.5 s of replication lag; position gap 100 \(A at 5002, B at 4902\)/);
    expect(text).toMatch(/ {2}- witness C cannot reach A/);
    expect(text).toMatch(/fence +A +\S+ \S+ +no answer/);
  });

  it('marks an unfinished phase of an escalated failover', () => {
    const [report] = failoverReports('orders', recorded().events);
    const escalated = { ...report!, outcome: 'escalated' as const, outcomeReason: 'promote on B failed after 3 attempt(s)', phases: [{ phase: 'promote' as const, startedAt: T0 }] };
    expect(renderReport(escalated)).toMatch(/escalated[\s\S]*outcome: promote on B failed after 3 attempt\(s\)[\s\S]*promote +2026-01-01 00:00:00.000Z +not finished/);
  });
});

describe('drc show --at and time options', () => {
  it('lists only the failovers recorded within the history folded', () => {
    const f = (streamPosition: number) => ({ workloadId: 'orders', fromSite: 'A', toSite: 'B', epoch: 1, startedAt: 0, completedAt: 1, rtoMs: 1, streamPosition });
    expect(failoversBy([f(10), f(20)], 15)).toEqual([f(10)]);
    expect(failoversBy([f(10), f(20)], 20)).toEqual([f(10), f(20)]);
  });

  it('resolves times to ISO-8601 and rejects what is not a time', () => {
    expect(timeOption('2026-01-01T00:00:00+01:00')).toBe('2025-12-31T23:00:00.000Z');
    const ago = Date.parse(timeOption('-2h'));
    expect(Math.abs(Date.now() - 7_200_000 - ago)).toBeLessThan(5000);
    expect(() => timeOption('teatime')).toThrow(/expected an ISO-8601 time/);
  });
});
