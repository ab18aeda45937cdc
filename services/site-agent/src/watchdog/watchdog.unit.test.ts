import { describe, expect, it } from 'vitest';
import { watchdogVerdict, type WatchState } from './watchdog';

const SILENT_MS = 1000;
const at = (s: Partial<WatchState>): WatchState => ({ leaseDeadline: 10_000, agentGone: false, takenOver: false, ...s });

describe('watchdogVerdict: when the agent watchdog fences', () => {
  it('waits while the lease holds, agent gone or not', () => {
    expect(watchdogVerdict(at({ agentGone: true }), 9_999, SILENT_MS)).toBe('wait');
    expect(watchdogVerdict(at({ lastBeatAt: 1_000 }), 9_999, SILENT_MS)).toBe('wait');
  });
  it('fences at the deadline when the agent is gone, however recently it beat', () => {
    expect(watchdogVerdict(at({ agentGone: true, lastBeatAt: 9_990 }), 10_000, SILENT_MS)).toBe('fence');
  });
  it('fences past the deadline when the agent is alive but silent (hung), or never beat', () => {
    expect(watchdogVerdict(at({ lastBeatAt: 8_000 }), 10_000, SILENT_MS)).toBe('fence');
    expect(watchdogVerdict(at({}), 10_000, SILENT_MS)).toBe('fence');
  });
  it('leaves an agent that beats with its lease lapsed (cut from NATS) to decide for itself', () => {
    expect(watchdogVerdict(at({ lastBeatAt: 19_500 }), 20_000, SILENT_MS)).toBe('wait');
  });
  it('fences nothing for a run that never held a lease (it never renewed one and inherited none)', () => {
    expect(watchdogVerdict({ agentGone: true, takenOver: false }, 20_000, SILENT_MS)).toBe('stand down');
    expect(watchdogVerdict({ agentGone: false, takenOver: false }, 20_000, SILENT_MS)).toBe('wait');
  });
  it('stands down once a later agent run took the duty over, even past the deadline', () => {
    expect(watchdogVerdict(at({ agentGone: true, takenOver: true }), 20_000, SILENT_MS)).toBe('stand down');
  });
});
