import type { Observation, WorkloadView } from '@drc/contracts';
import { DEFAULT_POLICY } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { ObservationTracker } from './observation-tracker';

const view = (id: string): WorkloadView => ({
  workloadId: id,
  state: 'protected',
  drill: 'idle',
  epoch: 0,
  primarySite: 'A',
  replicas: [
    { siteId: 'A', role: 'primary', healthy: true, priority: 1 },
    { siteId: 'B', role: 'replica', healthy: true, priority: 2 },
  ],
  policy: { ...DEFAULT_POLICY, rpoSeconds: 10 },
});
let seq = 0;
const obs = (site: string, ids: string[], at: number, over: { healthy?: boolean; lag?: number } = {}): Observation => ({
  kind: 'observation',
  v: 1,
  siteId: site,
  agentId: `${site}@t`,
  seq: ++seq,
  observedAt: at,
  workloads: ids.map((id) => ({ workloadId: id, role: site === 'A' ? 'primary' : 'replica', healthy: over.healthy ?? true, replication: { position: String(at), lagSeconds: over.lag ?? 0.2, lagBytes: 0 } })),
});

describe('observation tracker - the stream records meaning, not every sample', () => {
  it('records a change of meaning at once, and a moving position at most once per refresh period', () => {
    const t = new ObservationTracker({ refreshMs: 30_000 });
    const first = t.observe(obs('B', ['w'], 1000), 1000, view);
    expect(first.map((x) => x.input.type)).toEqual(['REPLICA_STATUS']);
    let refreshed = 0;
    for (let at = 2000; at <= 61_000; at += 1000) refreshed += t.observe(obs('B', ['w'], at), at, view).length;
    expect(refreshed).toBeGreaterThanOrEqual(1); // moving positions: refreshed...
    expect(refreshed).toBeLessThanOrEqual(2); // ...but only about once per 30 s in 60 s
    const lagged = t.observe(obs('B', ['w'], 62_000, { lag: 20 }), 62_000, view); // crosses the RPO
    expect(lagged).toHaveLength(1);
    expect(lagged[0]!.input).toMatchObject({ type: 'REPLICA_STATUS', lagSeconds: 20 });
  });

  it('reports the primary failed only after the freshest replica facts are recorded', () => {
    const t = new ObservationTracker({ refreshMs: 30_000 });
    const fed = [
      ...t.observe(obs('B', ['w'], 1000), 1000, view),
      ...t.observe(obs('A', ['w'], 1000), 1000, view),
      ...t.observe(obs('B', ['w'], 5000), 5000, view), // moved; recorded now or not, depending on its refresh phase
      ...t.observe(obs('A', ['w'], 6000, { healthy: false }), 6000, view),
    ].map((x) => x.input);
    const failedAt = fed.findIndex((i) => i.type === 'PRIMARY_FAILED');
    expect(failedAt).toBeGreaterThan(0);
    const lastB = fed.slice(0, failedAt).filter((i) => i.type === 'REPLICA_STATUS' && i.siteId === 'B').at(-1);
    expect(lastB).toMatchObject({ position: '5000' });
  });

  it('spreads the refreshes of copies first seen together over the period instead of one burst', () => {
    const t = new ObservationTracker({ refreshMs: 30_000 });
    const ids = Array.from({ length: 3000 }, (_, i) => `w${i}`);
    t.observe(obs('B', ids, 0), 0, view);
    const perSecond: number[] = [];
    for (let s = 1; s <= 30; s++) perSecond.push(t.observe(obs('B', ids, s * 1000), s * 1000, view).length);
    expect(perSecond.reduce((a, b) => a + b, 0)).toBe(3000); // each copy refreshed once in its first period
    expect(Math.max(...perSecond)).toBeLessThan(300); // ~100 a second, not 3,000 at once
  });
});
