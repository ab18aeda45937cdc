import type { WorkloadInput } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { recordStream, simulateInputs, testSetup } from './testing';
import { buildTimeline, eventsBetween, stateAt, type TimedEvent } from './timeline';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const setup = testSetup({ at: T0, policy: { fenceMarginMs: 0 } });

/** An operator forces a failover to B at +5 s; every command succeeds 100 ms after it is sent, so A is reprotected. */
function recorded(): TimedEvent[] {
  const external: WorkloadInput[] = [
    { type: 'REPLICA_STATUS', at: T0 + 10, siteId: 'B', healthy: true, role: 'replica', position: '100', lagSeconds: 0.5 },
    { type: 'OPERATOR_COMMAND', at: T0 + 5000, command: 'failover', targetSite: 'B', actor: { kind: 'operator', id: 'alice' }, requestId: 'req-1', reason: 'A is flaky' },
  ];
  // As the store hands them out: recorded when the input happened.
  return recordStream(setup, simulateInputs(setup, external)).map((e) => ({ ...e, recordedAt: new Date(e.metadata!.at as number) }));
}

describe('history timeline - one readable entry per recorded event', () => {
  it('shows observations, the operator with the actor, decisions with candidates, commands and their results', () => {
    const events = recorded();
    const entries = buildTimeline(events);
    expect(entries.map((e) => e.position)).toEqual(events.map((e) => e.position));
    expect(entries[0]).toMatchObject({ kind: 'registration', summary: expect.stringMatching(/primary A, sites A\(1\) B\(2\)/) });
    expect(entries.find((e) => e.type === 'ReplicaStatusObserved')).toMatchObject({ kind: 'observation', summary: 'B replica healthy position 100 lag 0.5 s' });
    expect(entries.find((e) => e.type === 'OperatorCommandReceived')).toMatchObject({ kind: 'operator', actor: 'operator:alice', summary: 'failover --to B by operator alice: A is flaky', at: T0 + 5000 });
    expect(entries.find((e) => e.type === 'FailoverStarted')?.summary).toBe('unplanned failover from A started: operator alice: A is flaky (by operator alice)');
    const selected = entries.find((e) => e.type === 'ReplicaSelected');
    expect(selected?.summary).toBe('replica B selected from 1 candidate');
    expect(selected?.details[0]).toMatch(/^candidate B: eligible; site reachable, copy healthy, lag 0.5s within limit/);
    expect(entries.filter((e) => e.kind === 'command').map((e) => e.summary)).toEqual([
      expect.stringMatching(/^fence → A \(epoch 0/),
      expect.stringMatching(/^promote → B \(epoch 1/),
      expect.stringMatching(/^redirect → B \(epoch 1/),
      expect.stringMatching(/^reprotect → A \(epoch 2/), // A is healthy: autoReprotect
    ]);
    expect(entries.find((e) => e.kind === 'result' && /^promote/.test(e.summary))?.summary).toBe('promote on B: done after 0.10 s');
    expect(entries.find((e) => e.type === 'FailoverCompleted')?.summary).toMatch(/^failover completed A → B, epoch 1, RTO 0.30 s, data loss 0.5 s$/);
    expect(entries.some((e) => e.kind === 'state' && e.summary === 'protected → failingOver.fencing (primary A, epoch 0)')).toBe(true);
    expect(entries.every((e) => e.recordedAt !== undefined)).toBe(true);
  });

  it('keeps an event that does not parse, as `other`, instead of dropping it', () => {
    const events = recorded();
    const odd: TimedEvent = { stream: 'workload-db1', position: events.length + 1, type: 'SomethingNew', data: { x: 1 } };
    const broken: TimedEvent = { stream: 'workload-db1', position: events.length + 2, type: 'PrimaryFailureObserved', data: { nonsense: true } };
    const entries = buildTimeline([...events, odd, broken]);
    expect(entries.slice(-2).map((e) => [e.kind, e.summary])).toEqual([
      ['other', 'SomethingNew'],
      ['other', 'PrimaryFailureObserved'],
    ]);
  });

  it('eventsBetween keeps the events recorded within the range, both ends included', () => {
    const events = recorded();
    const window = eventsBetween(events, { from: T0 + 5000, to: T0 + 5100 });
    expect(window.length).toBeGreaterThan(0);
    expect(window.every((e) => (e.recordedAt as Date).getTime() >= T0 + 5000 && (e.recordedAt as Date).getTime() <= T0 + 5100)).toBe(true);
    expect(window[0]?.type).toBe('OperatorCommandReceived');
    expect(eventsBetween(events, {})).toHaveLength(events.length);
    expect(eventsBetween(events, { to: T0 - 1 })).toEqual([]);
  });
});

describe('state at a moment - the stream folded up to a recorded time', () => {
  it('rebuilds state, primary and epoch before, during and after the failover', () => {
    const events = recorded();
    expect(stateAt(events, T0 - 1)).toBeUndefined();
    const before = stateAt(events, T0 + 4999);
    expect(before?.view).toMatchObject({ state: 'protected', primarySite: 'A', epoch: 0 });
    expect(before?.view.replicas.find((r) => r.siteId === 'B')).toMatchObject({ lagSeconds: 0.5, position: '100' });
    const during = stateAt(events, T0 + 5150);
    expect(during?.view).toMatchObject({ state: 'failingOver.promoting', primarySite: 'A', epoch: 1 });
    expect(stateAt(events, T0 + 5300)?.view).toMatchObject({ state: 'reprotecting', primarySite: 'B', epoch: 2 });
    const after = stateAt(events, T0 + 60_000);
    expect(after?.view).toMatchObject({ state: 'protected', primarySite: 'B', epoch: 2 });
    expect(after?.view.replicas.find((r) => r.siteId === 'A')?.role).toBe('replica');
    expect(after?.position).toBe(events.length);
    expect(during!.position).toBeLessThan(after!.position);
    expect(during?.recordedAt).toBeLessThanOrEqual(T0 + 5150);
  });
});
