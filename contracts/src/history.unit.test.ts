import { describe, expect, it } from 'vitest';
import { FailoverNumberSchema, resolveTimeSpec, WorkloadEventsQuerySchema } from './history';

const NOW = Date.parse('2026-03-01T12:00:00Z');

describe('time specs - ISO-8601, epoch ms and times ago', () => {
  it('reads ISO-8601 times as Date.parse does (UTC without an offset, offsets applied)', () => {
    for (const s of ['2026-03-01T10:30:00Z', '2026-03-01T10:30:00.250Z', '2024-02-29T23:59:59+02:00', '1999-12-31T00:00:00-05:30', '2026-03-01', '1970-01-01T00:00:00Z']) {
      expect(resolveTimeSpec(s, NOW), s).toBe(Date.parse(s));
    }
    expect(resolveTimeSpec('2026-03-01T10:30', NOW)).toBe(Date.parse('2026-03-01T10:30Z'));
    expect(resolveTimeSpec('2026-03-01 10:30:00', NOW)).toBe(Date.parse('2026-03-01T10:30:00Z'));
  });

  it('reads durations as a time that long before now, with or without the minus', () => {
    expect(resolveTimeSpec('-2h', NOW)).toBe(NOW - 7_200_000);
    expect(resolveTimeSpec('30m', NOW)).toBe(NOW - 1_800_000);
    expect(resolveTimeSpec('1.5d', NOW)).toBe(NOW - 129_600_000);
    expect(resolveTimeSpec('500ms', NOW)).toBe(NOW - 500);
    expect(resolveTimeSpec('1767225600000', NOW)).toBe(1_767_225_600_000);
  });

  it('rejects what is not a time, including impossible dates', () => {
    for (const s of ['yesterday', '2h ago', '2026-02-30', '2026-13-01', '2026-03-01T24:00:00Z', '', '-', '12x']) expect(resolveTimeSpec(s, NOW), s).toBeUndefined();
  });

  it('the events query names the bad field', () => {
    const r = WorkloadEventsQuerySchema.safeParse({ from: 'last tuesday' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['from']);
    expect(r.error?.issues[0]?.message).toMatch(/ISO-8601/);
    expect(WorkloadEventsQuerySchema.safeParse({ from: '-2h', to: '2026-03-01T12:00:00Z', limit: '10' }).success).toBe(true);
    expect(FailoverNumberSchema.parse('latest')).toBe('latest');
    expect(FailoverNumberSchema.parse('3')).toBe(3);
    expect(FailoverNumberSchema.safeParse('0').success).toBe(false);
  });
});
