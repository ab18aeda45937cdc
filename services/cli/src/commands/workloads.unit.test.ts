import { describe, expect, it } from 'vitest';
import { parseSseBlock } from '../api-client';
import { renderFailovers } from './workloads';

describe('drc history - failover table', () => {
  it('shows from, to, epoch, RTO in seconds and data loss', () => {
    const out = renderFailovers([{ workloadId: 'orders', fromSite: 'A', toSite: 'B', epoch: 1, startedAt: 0, completedAt: 1_700_000_000_000, rtoMs: 4200, dataLossSeconds: 0.5, streamPosition: 36 }]);
    expect(out).toMatch(/orders\s+A\s+B\s+1\s+4\.2\s+0\.5/);
    expect(renderFailovers([])).toBe('no failovers recorded');
  });
});

describe('drc watch - SSE parsing', () => {
  it('reads event, id and multi-line data; ignores comment blocks', () => {
    expect(parseSseBlock('event: stored\nid: 42\ndata: {"a":1}')).toEqual({ event: 'stored', id: '42', data: '{"a":1}' });
    expect(parseSseBlock('data: a\ndata: b')).toEqual({ event: 'message', data: 'a\nb' });
    expect(parseSseBlock(': keep-alive')).toBeUndefined();
  });
});
