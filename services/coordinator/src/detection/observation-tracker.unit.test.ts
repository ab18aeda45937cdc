import type { Observation, WorkloadInput, WorkloadObservation, WorkloadView } from '@drc/contracts';
import { DEFAULT_POLICY } from '@drc/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObservationTracker, type WorkloadInputFor } from './observation-tracker';

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
  incarnation: { id: 'run-1', startedAt: 1 },
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

  it('a planned switchover waiting for its target to catch up hears that it has, at once, not at the next refresh', () => {
    const t = new ObservationTracker({ refreshMs: 30_000 });
    t.observe(obs('B', ['w'], 1000, { lag: 0.3 }), 1000, view);
    const syncing = (id: string): WorkloadView => ({ ...view(id), state: 'switchingOver.syncing' });
    // Writes stopped (quiesced): B's next report says lag 0, well within the refresh period.
    const caughtUp = t.observe(obs('B', ['w'], 3000, { lag: 0 }), 3000, syncing);
    expect(caughtUp.map((x) => x.input)).toEqual([expect.objectContaining({ type: 'REPLICA_STATUS', siteId: 'B', lagSeconds: 0 })]);
    // Outside a switchover, the same change waits for the refresh (the stream records meaning, not samples).
    t.observe(obs('B', ['v'], 1000, { lag: 0.3 }), 1000, view);
    expect(t.observe(obs('B', ['v'], 3000, { lag: 0 }), 3000, view)).toEqual([]);
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

describe('observation tracker - a copy that reports itself primary away from the primary site reaches the machine', () => {
  const after = (primarySite: string, roles: Record<string, 'primary' | 'replica' | 'fenced'>): WorkloadView => ({
    ...view('w'),
    primarySite,
    replicas: Object.entries(roles).map(([siteId, role], i) => ({ siteId, role, healthy: true, priority: i + 1 })),
  });
  const primaryAt = (site: string, at: number): Observation => ({ ...obs(site, ['w'], at), workloads: [{ workloadId: 'w', role: 'primary', healthy: true, replication: { position: '7', lagSeconds: 0, lagBytes: 0 } }] });

  it('the old primary, recorded fenced by a failover, still reporting the primary role it was last fed with is fed again, and again each refresh period while it lasts', () => {
    const t = new ObservationTracker({ refreshMs: 30_000 });
    expect(t.observe(primaryAt('A', 1000), 1000, () => view('w')).map((x) => x.input.type)).toContain('REPLICA_STATUS');
    // A failover moved the primary to B and recorded A fenced; A comes back, unchanged, as primary.
    const moved = after('B', { A: 'fenced', B: 'primary' });
    const back = t.observe(primaryAt('A', 2000), 2000, () => moved);
    expect(back.map((x) => x.input)).toEqual([expect.objectContaining({ type: 'REPLICA_STATUS', siteId: 'A', role: 'primary' })]);
    // Once recorded as primary (and fenced by the machine), the same report is fed once per refresh period.
    const recorded = after('B', { A: 'primary', B: 'primary' });
    expect(t.observe(primaryAt('A', 3000), 3000, () => recorded)).toEqual([]);
    expect(t.observe(primaryAt('A', 33_000), 33_000, () => recorded).map((x) => x.input.type)).toEqual(['REPLICA_STATUS']);
  });
});

/**
 * The tracker as it was first written (maps of the messages' own objects), kept here as the
 * model the in-place tracker must agree with: same inputs, same order, for any sequence.
 */
class ReferenceTracker {
  private readonly latest = new Map<string, Map<string, { obs: WorkloadObservation; at: number }>>();
  private readonly fed = new Map<string, Map<string, { role: string; healthy: boolean; aboveRpo: boolean; position?: string | undefined; lagSeconds?: number | undefined; at: number }>>();
  private readonly primaryDown = new Map<string, boolean>();
  constructor(private readonly refreshMs: number) {}

  observe(msg: Observation, receivedAt: number, viewOf: (id: string) => WorkloadView | undefined): WorkloadInputFor[] {
    const out: WorkloadInputFor[] = [];
    for (const w of msg.workloads) {
      const view = viewOf(w.workloadId);
      if (!view) continue;
      let bySite = this.latest.get(w.workloadId);
      if (!bySite) this.latest.set(w.workloadId, (bySite = new Map()));
      bySite.set(msg.siteId, { obs: w, at: receivedAt });
      if (msg.siteId === view.primarySite) {
        const down = !w.healthy || (w.role !== 'primary' && w.role !== 'unknown');
        const wasDown = this.primaryDown.get(w.workloadId) ?? false;
        if (down && !wasDown) {
          out.push(...this.freshReplicaInputs(w.workloadId, msg.siteId, receivedAt, view));
          out.push({ workloadId: w.workloadId, input: { type: 'PRIMARY_FAILED', at: receivedAt, siteId: msg.siteId, reason: w.role === 'stopped' ? 'stopped' : 'unhealthy', evidence: [`agent ${msg.agentId} reports ${w.workloadId} at ${msg.siteId}: role ${w.role}, ${w.healthy ? 'healthy' : 'unhealthy'}${w.detail ? ` (${w.detail})` : ''}`] } });
        } else if (!down && wasDown) {
          out.push({ workloadId: w.workloadId, input: { type: 'PRIMARY_RECOVERED', at: receivedAt, siteId: msg.siteId } });
        }
        this.primaryDown.set(w.workloadId, down);
      }
      const status = this.statusInput(w.workloadId, msg.siteId, w, receivedAt, view, false);
      if (status) out.push(status);
    }
    return out;
  }
  resetPrimary(id: string): void {
    this.primaryDown.delete(id);
  }
  markPrimaryDown(id: string): void {
    this.primaryDown.set(id, true);
  }
  freshReplicaInputs(id: string, excludeSite: string, at: number, view: WorkloadView): WorkloadInputFor[] {
    const out: WorkloadInputFor[] = [];
    for (const [siteId, l] of this.latest.get(id) ?? []) {
      if (siteId === excludeSite) continue;
      const s = this.statusInput(id, siteId, l.obs, at, view, true);
      if (s) out.push(s);
    }
    return out;
  }
  private statusInput(id: string, siteId: string, w: WorkloadObservation, at: number, view: WorkloadView, force: boolean): WorkloadInputFor | undefined {
    let bySite = this.fed.get(id);
    if (!bySite) this.fed.set(id, (bySite = new Map()));
    const prev = bySite.get(siteId);
    const lag = w.replication?.lagSeconds;
    const aboveRpo = lag !== undefined && lag > view.policy.rpoSeconds;
    const changedMeaning = !prev || prev.role !== w.role || prev.healthy !== w.healthy || prev.aboveRpo !== aboveRpo;
    const moved = prev !== undefined && (prev.position !== w.replication?.position || prev.lagSeconds !== lag);
    const due = prev !== undefined && at - prev.at >= this.refreshMs;
    const rogue = !force && w.role === 'primary' && siteId !== view.primarySite && (due || view.replicas.find((r) => r.siteId === siteId)?.role !== 'primary');
    const caughtUp = view.state === 'switchingOver.syncing' && lag === 0 && prev !== undefined && prev.lagSeconds !== 0;
    if (!changedMeaning && !(moved && (due || force)) && !rogue && !caughtUp) return undefined;
    let h = 0x811c9dc5;
    const name = `${id}/${siteId}`;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
    bySite.set(siteId, { role: w.role, healthy: w.healthy, aboveRpo, position: w.replication?.position, lagSeconds: lag, at: prev ? at : at - (h % Math.max(1, this.refreshMs)) });
    const input: WorkloadInput = { type: 'REPLICA_STATUS', at, siteId, healthy: w.healthy, role: w.role, ...(w.replication ? { position: w.replication.position, lagSeconds: w.replication.lagSeconds } : {}) };
    return { workloadId: id, input };
  }
}

describe('observation tracker - in-place slots agree with the straightforward model', () => {
  const SITES = ['A', 'B', 'C'] as const;
  const IDS = ['w1', 'w2', 'w3'] as const;
  const copyArb = fc.record({
    workloadId: fc.constantFrom(...IDS),
    role: fc.constantFrom('primary' as const, 'replica' as const, 'replica' as const, 'fenced' as const, 'stopped' as const, 'unknown' as const),
    healthy: fc.boolean(),
    detail: fc.option(fc.constantFrom('probe failed', 'timeout'), { nil: undefined }),
    replication: fc.option(fc.record({ position: fc.constantFrom('0', '10', '11', '500'), lagSeconds: fc.constantFrom(0, 0.2, 5, 20) }), { nil: undefined }),
  });
  const stepArb = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('observe' as const), site: fc.constantFrom(...SITES), copies: fc.array(copyArb, { maxLength: 4 }), advance: fc.integer({ min: 0, max: 20_000 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('siteLost' as const), id: fc.constantFrom(...IDS), site: fc.constantFrom(...SITES), advance: fc.integer({ min: 0, max: 5_000 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), id: fc.constantFrom(...IDS) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('movePrimary' as const), id: fc.constantFrom(...IDS), site: fc.constantFrom(...SITES), rpo: fc.constantFrom(1, 10, 30) }) },
  );

  it('gives the same inputs in the same order for any sequence of reports and site events', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 60 }), (steps) => {
        const refreshMs = 30_000;
        const fast = new ObservationTracker({ refreshMs });
        const model = new ReferenceTracker(refreshMs);
        const views = new Map<string, WorkloadView>(IDS.map((id) => [id, { ...view(id), replicas: SITES.map((s, i) => ({ siteId: s, role: i === 0 ? 'primary' : 'replica', healthy: true, priority: i + 1 })) }]));
        let now = 1_000_000;
        let seq = 0;
        for (const step of steps) {
          if (step.kind === 'observe') {
            now += step.advance;
            const msg: Observation = { kind: 'observation', v: 1, siteId: step.site, agentId: `${step.site}@p`, incarnation: { id: 'run-1', startedAt: 1 }, seq: ++seq, observedAt: now, workloads: step.copies };
            const a = fast.observe(msg, now, (id) => views.get(id));
            const b = model.observe(msg, now, (id) => views.get(id));
            expect(a).toEqual(b);
          } else if (step.kind === 'siteLost') {
            now += step.advance;
            const v = views.get(step.id)!;
            fast.markPrimaryDown(step.id);
            model.markPrimaryDown(step.id);
            expect(fast.freshReplicaInputs(step.id, step.site, now, v)).toEqual(model.freshReplicaInputs(step.id, step.site, now, v));
          } else if (step.kind === 'reset') {
            fast.resetPrimary(step.id);
            model.resetPrimary(step.id);
          } else {
            const v = views.get(step.id)!;
            views.set(step.id, { ...v, primarySite: step.site, policy: { ...v.policy, rpoSeconds: step.rpo } });
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
