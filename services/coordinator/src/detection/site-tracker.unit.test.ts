import type { Heartbeat } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { SiteTracker } from './site-tracker';

const sites = [
  { id: 'A', priority: 1 },
  { id: 'B', priority: 2 },
  { id: 'C', priority: 3 },
];
const hb = (siteId: string, seq: number, peers: Record<string, boolean> = {}): Heartbeat => ({
  kind: 'heartbeat', v: 1, siteId, agentId: `agent-${siteId}`, incarnation: { id: 'run-1', startedAt: 0 }, seq, sentAt: 0, leaseTtlMs: 1000, peers,
});

describe('site tracker - a site is lost only when its lease expired and the witnesses agree', () => {
  it('declares a silent site lost after its lease, with evidence', () => {
    const t = new SiteTracker({ sites, defaultLeaseTtlMs: 1000, graceUntil: 0 });
    for (const s of ['A', 'B', 'C']) t.heartbeat(hb(s, 1), 0);
    expect(t.evaluate(500).map((c) => `${c.siteId}:${c.to}`).sort()).toEqual(['A:up', 'B:up', 'C:up']);
    t.heartbeat(hb('B', 2, { A: false, C: true }), 900);
    t.heartbeat(hb('C', 2, { A: false, B: true }), 900);
    const changes = t.evaluate(1200);
    expect(changes.map((c) => `${c.siteId}:${c.to}`)).toEqual(['A:lost']);
    expect(changes[0]?.leaseExpiredAt).toBe(1000);
    expect(changes[0]?.evidence.join(' ')).toContain('lease of site A expired');
  });

  it('keeps a site suspect, not lost, while a live witness still reaches it (cut from the coordinator only)', () => {
    const t = new SiteTracker({ sites, defaultLeaseTtlMs: 1000, graceUntil: 0 });
    for (const s of ['A', 'B', 'C']) t.heartbeat(hb(s, 1), 0);
    t.evaluate(10);
    t.heartbeat(hb('B', 2, { A: true }), 900);
    t.heartbeat(hb('C', 2, { A: false }), 900);
    const changes = t.evaluate(1200);
    expect(changes.map((c) => `${c.siteId}:${c.to}`)).toEqual(['A:suspect']);
    expect(t.status('A')).toBe('suspect');
  });

  it('declares nothing lost during the startup grace period, then only sites a live witness cannot reach', () => {
    const t = new SiteTracker({ sites, defaultLeaseTtlMs: 1000, graceUntil: 5000 });
    t.heartbeat(hb('B', 1), 0);
    expect(t.evaluate(4000).filter((c) => c.to === 'lost')).toEqual([]);
    t.heartbeat(hb('B', 2, { A: false, C: false }), 4900);
    expect(t.evaluate(5001).filter((c) => c.to === 'lost').map((c) => c.siteId).sort()).toEqual(['A', 'C']);
  });

  it('declares nobody lost when it hears no site at all (the coordinator may be the one cut off)', () => {
    const t = new SiteTracker({ sites, defaultLeaseTtlMs: 1000, graceUntil: 0 });
    for (const s of ['A', 'B', 'C']) t.heartbeat(hb(s, 1), 0);
    t.evaluate(10);
    const changes = t.evaluate(5000);
    expect(changes.map((c) => c.to)).toEqual(['suspect', 'suspect', 'suspect']);
    expect(changes[0]?.evidence.join(' ')).toContain('coordinator may be the isolated one');
  });

  it('comes back up after a lost site renews its lease', () => {
    const t = new SiteTracker({ sites, defaultLeaseTtlMs: 1000, graceUntil: 0 });
    expect(t.heartbeat(hb('A', 5), 0)).toBe('ok');
    expect(t.heartbeat(hb('Z', 1), 10)).toBe('unknown-site');
    t.evaluate(100);
    t.heartbeat(hb('B', 1, { A: false }), 1500);
    expect(t.evaluate(2000).find((c) => c.siteId === 'A')?.to).toBe('lost');
    t.heartbeat(hb('A', 6), 2100);
    expect(t.evaluate(2200).find((c) => c.siteId === 'A')).toMatchObject({ from: 'lost', to: 'up' });
  });

  it('after a blackout (no site heard at all), waits a grace period for fresh witness views before declaring anything lost', () => {
    const t = new SiteTracker({ sites, defaultLeaseTtlMs: 1000, graceUntil: 0, blackoutGraceMs: 2000 });
    for (const s of ['A', 'B', 'C']) t.heartbeat(hb(s, 1, { A: true, B: true, C: true }), 0);
    t.evaluate(10);
    // NATS goes away for everyone: every lease runs out together.
    expect(t.evaluate(1500).map((c) => `${c.siteId}:${c.to}`).sort()).toEqual(['A:suspect', 'B:suspect', 'C:suspect']);
    // C is heard first, with a view of B formed while C heard nobody either.
    t.heartbeat(hb('C', 2, { A: true, B: false }), 3000);
    const first = t.evaluate(3000);
    expect(first.map((c) => `${c.siteId}:${c.to}`)).toEqual(['C:up']);
    expect(t.status('B')).toBe('suspect');
    // B and A are heard within the grace: nobody was lost.
    t.heartbeat(hb('B', 2, { A: true, C: true }), 3500);
    t.heartbeat(hb('A', 2, { B: true, C: true }), 3600);
    t.heartbeat(hb('C', 3, { A: true, B: true }), 3700);
    expect(t.evaluate(3800).map((c) => `${c.siteId}:${c.to}`).sort()).toEqual(['A:up', 'B:up']);
    // Whereas a site that stays silent past the grace is lost, as usual.
    t.heartbeat(hb('B', 3, { A: false, C: true }), 4600);
    t.heartbeat(hb('C', 4, { A: false, B: true }), 4600);
    expect(t.evaluate(4900).map((c) => `${c.siteId}:${c.to}`)).toEqual(['A:suspect']); // still within the grace (until 5000)
    expect(t.evaluate(5200).map((c) => `${c.siteId}:${c.to}`)).toEqual(['A:lost']);
  });

  it('without a blackout grace, the first witness view after a blackout decides at once (what the grace prevents)', () => {
    const t = new SiteTracker({ sites, defaultLeaseTtlMs: 1000, graceUntil: 0 });
    for (const s of ['A', 'B', 'C']) t.heartbeat(hb(s, 1, { A: true, B: true, C: true }), 0);
    t.evaluate(10);
    t.evaluate(1500);
    t.heartbeat(hb('C', 2, { A: true, B: false }), 3000);
    expect(t.evaluate(3000).map((c) => `${c.siteId}:${c.to}`)).toContain('B:lost');
  });


  it('a lost site stays lost through a blackout, until its own agent is heard again', () => {
    const t = new SiteTracker({ sites, defaultLeaseTtlMs: 1000, graceUntil: 0, blackoutGraceMs: 2000 });
    for (const s of ['A', 'B', 'C']) t.heartbeat(hb(s, 1), 0);
    t.evaluate(10);
    t.heartbeat(hb('B', 2, { A: false }), 900);
    t.heartbeat(hb('C', 2, { A: false }), 900);
    expect(t.evaluate(1200).map((c) => `${c.siteId}:${c.to}`)).toEqual(['A:lost']);
    expect(t.evaluate(2500).map((c) => `${c.siteId}:${c.to}`).sort()).toEqual(['B:suspect', 'C:suspect']); // blackout
    t.heartbeat(hb('B', 3, { A: false }), 3000);
    t.heartbeat(hb('C', 3, { A: false }), 3000);
    expect(t.evaluate(3100).map((c) => `${c.siteId}:${c.to}`).sort()).toEqual(['B:up', 'C:up']);
    expect(t.status('A')).toBe('lost');
    t.heartbeat(hb('A', 2), 3200);
    expect(t.evaluate(3300).map((c) => `${c.siteId}:${c.to}`)).toEqual(['A:up']);
  });

});
