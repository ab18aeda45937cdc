import { describe, expect, it } from 'vitest';
import { DrcConfigSchema } from '@drc/contracts';
import { hungAfterMs, watchdogRestartDelayMs, watchdogSparesWhy, watchdogVerdict, type WatchState } from './watchdog';

const SILENT_MS = 1000;
const at = (s: Partial<WatchState>): WatchState => ({ leaseDeadline: 10_000, startedAt: 0, agentGone: false, takenOver: false, ...s });

describe('watchdogVerdict: when the agent watchdog fences', () => {
  it('waits while the lease holds, agent gone or not', () => {
    expect(watchdogVerdict(at({ agentGone: true }), 9_999, SILENT_MS)).toBe('wait');
    expect(watchdogVerdict(at({ lastBeatAt: 1_000 }), 9_999, SILENT_MS)).toBe('wait');
  });
  it('fences at the deadline when the agent is gone, however recently it beat', () => {
    expect(watchdogVerdict(at({ agentGone: true, lastBeatAt: 9_990 }), 10_000, SILENT_MS)).toBe('fence');
  });
  it('fences past the deadline when the agent is alive but silent (hung), or never beat since the watchdog started', () => {
    expect(watchdogVerdict(at({ lastBeatAt: 8_000 }), 10_000, SILENT_MS)).toBe('fence');
    expect(watchdogVerdict(at({ startedAt: 1_000 }), 10_000, SILENT_MS)).toBe('fence');
  });
  it('a restarted agent starting up a little past the lease it inherited is not hung: silence counts from its start', () => {
    expect(watchdogVerdict(at({ startedAt: 9_500 }), 10_200, SILENT_MS)).toBe('wait');
  });
  it('a live agent whose heartbeat rounds are slow (NATS flush + probe timeout + heartbeat) is not hung at the default settings', () => {
    // lease 3 s, heartbeat 1 s: rounds can start 3-4 s apart; hung only clearly past the longest round.
    expect(hungAfterMs(3000, 1000)).toBeGreaterThanOrEqual(2 * 3000);
    expect(watchdogVerdict(at({ lastBeatAt: 10_000 - 4_000 }), 10_000, hungAfterMs(3000, 1000))).toBe('wait');
    expect(watchdogVerdict(at({ lastBeatAt: 10_000 - 7_000 }), 10_000, hungAfterMs(3000, 1000))).toBe('fence');
  });
  it('leaves an agent that beats with its lease lapsed (cut from NATS) to decide for itself', () => {
    expect(watchdogVerdict(at({ lastBeatAt: 19_500 }), 20_000, SILENT_MS)).toBe('wait');
  });
  it('fences nothing for a run that never held a lease (it never renewed one and inherited none)', () => {
    expect(watchdogVerdict({ startedAt: 0, agentGone: true, takenOver: false }, 20_000, SILENT_MS)).toBe('stand down');
    expect(watchdogVerdict({ startedAt: 0, agentGone: false, takenOver: false }, 20_000, SILENT_MS)).toBe('wait');
  });
  it('stands down once a later agent run took the duty over, even past the deadline', () => {
    expect(watchdogVerdict(at({ agentGone: true, takenOver: true }), 20_000, SILENT_MS)).toBe('stand down');
  });
});

describe('watchdogSparesWhy: invariant 1a, never fence the last copy that could serve when nothing will move', () => {
  const workload = (id: string, policy: Record<string, unknown>) => ({ id, primarySite: 'A', replicaSites: ['B'], policy, driver: { type: 'exec', sites: { A: { role: 'primary' }, B: { role: 'replica' } } } });
  const config = DrcConfigSchema.parse({
    nats: { url: 'nats://127.0.0.1:4222', prefix: 'p' },
    sites: [{ id: 'A' }, { id: 'B' }],
    defaults: { policy: { failoverMode: 'approval' } },
    workloads: [workload('auto', { failoverMode: 'automatic' }), workload('approval', {}), workload('manual', { failoverMode: 'manual' })],
  });
  it('fences a workload that fails over automatically, spares one whose failover waits for an operator (its effective policy, defaults included)', () => {
    expect(watchdogSparesWhy(config, 'auto')).toBeUndefined();
    expect(watchdogSparesWhy(config, 'approval')).toMatch(/failoverMode approval/);
    expect(watchdogSparesWhy(config, 'manual')).toMatch(/failoverMode manual/);
  });
});

describe('watchdogRestartDelayMs: a watchdog that keeps failing is started again ever later', () => {
  it('doubles from a second up to 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(watchdogRestartDelayMs)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });
});
