import { describe, expect, it } from 'vitest';
import { fencedSites, noteFenceEvent, persistFenceMarks, restoreFenceMarks, type FenceMarks } from './fence-marks';

const issued = (commandId: string, siteId: string, action = 'fence') => ['CommandIssued', { type: 'CommandIssued', command: { commandId, siteId, action, epoch: 0, timeoutMs: 1, params: {} } }] as const;
const result = (commandId: string, siteId: string, status: string, action = 'fence') => ['CommandResultReceived', { type: 'COMMAND_RESULT', at: 1, commandId, siteId, action, epoch: 0, status, detail: {} }] as const;
const stateChanged = (to: string) => ['WorkloadStateChanged', { type: 'WorkloadStateChanged', from: 'x', to, epoch: 0, primarySite: 'A' }] as const;
const fold = (events: ReadonlyArray<readonly [string, unknown]>): FenceMarks => {
  const marks: FenceMarks = new Map();
  for (const [type, data] of events) noteFenceEvent(marks, type, data);
  return marks;
};

describe('fence marks - a site with a fence pending or done is known as such, whatever the state', () => {
  it('marks a site from the fence being sent until it is given a role again', () => {
    expect(fencedSites(fold([issued('f1', 'A')]))).toEqual(['A']);
    expect(fencedSites(fold([issued('f1', 'A'), stateChanged('escalated')]))).toEqual(['A']);
    expect(fencedSites(fold([issued('f1', 'A'), result('f1', 'A', 'done')]))).toEqual(['A']);
    expect(fencedSites(fold([issued('f1', 'A'), ['FenceConfirmed', { type: 'FenceConfirmed', siteId: 'A', by: 'leaseExpiry' }]]))).toEqual(['A']);
    expect(fencedSites(fold([issued('q1', 'A', 'quiesce')]))).toEqual(['A']);
    expect(fencedSites(fold([issued('f1', 'A'), result('f1', 'A', 'done'), result('u1', 'A', 'done', 'unfence')]))).toEqual([]);
    expect(fencedSites(fold([issued('f1', 'A'), result('f1', 'A', 'done'), result('p1', 'A', 'done', 'promote')]))).toEqual([]);
    expect(fencedSites(fold([issued('f1', 'A'), result('f1', 'A', 'done'), stateChanged('protected')]))).toEqual([]);
  });
  it('a refused fence with nothing else pending leaves no mark; a late done answer marks the site again', () => {
    expect(fencedSites(fold([issued('f1', 'A'), result('f1', 'A', 'refused')]))).toEqual([]);
    expect(fencedSites(fold([issued('f1', 'A'), issued('f2', 'A'), result('f2', 'A', 'failed')]))).toEqual(['A']);
    expect(fencedSites(fold([issued('f1', 'A'), stateChanged('protected'), result('f1', 'A', 'done')]))).toEqual(['A']);
  });
  it('commands that give no role away leave no mark', () => {
    expect(fencedSites(fold([issued('p1', 'B', 'promote'), issued('r1', 'B', 'redirect'), result('p1', 'B', 'done', 'promote')]))).toEqual([]);
  });
  it('survives a snapshot round trip', () => {
    const marks = fold([issued('f1', 'A'), issued('f2', 'C'), result('f2', 'C', 'done')]);
    const back = restoreFenceMarks(JSON.parse(JSON.stringify(persistFenceMarks(marks))));
    expect(back).toEqual(marks);
    noteFenceEvent(back, ...result('f1', 'A', 'refused'));
    expect(fencedSites(back)).toEqual(['C']);
  });
});
