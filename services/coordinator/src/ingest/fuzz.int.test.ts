import { workloadStream } from '@drc/contracts';
import { jetStreamOf } from '@drc/runtime';
import { eventually } from '@drc/test-kit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../test-coordinator.fixture';

/**
 * Invariant 7 under load: 10,000 hostile agent messages (malformed, oversized, wrong site,
 * replayed sequence numbers, stale or unknown command results) leave the coordinator running
 * and every workload unchanged, and every one of them is dead-lettered with a reason.
 */
const SEED = Number(process.env.DRC_FUZZ_SEED ?? 20261124);
const COUNT = 10_000;

describe('coordinator - 10,000 fuzzed agent messages change nothing and are all dead-lettered', () => {
  let t: TestCoordinator;
  let deadLetters = 0;

  beforeAll(async () => {
    t = await startTestCoordinator('fuzz', {
      coordinator: { startupGraceMs: 600_000 },
      sites: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
      workloads: [
        { id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] },
        { id: 'w2', driver: 'sim', primarySite: 'B', replicaSites: ['C', 'A'] },
      ],
    });
    t.nc.subscribe(t.subjects.deadLetter(), { callback: () => void deadLetters++ });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it(`survives them unchanged (seed ${SEED})`, async () => {
    const { coordinator, store, nc, subjects } = t;
    const js = jetStreamOf(nc);
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const obs = (site: string, seq: number, workloads: unknown[] = []) => ({ kind: 'observation', v: 1, siteId: site, agentId: `agent-${site}`, incarnation: { id: 'run-2', startedAt: 2 }, seq, observedAt: Date.now(), workloads });
    // Establish the agents' sequence numbers with real facts first (these are valid and recorded).
    for (const site of ['A', 'B', 'C']) await js.publish(subjects.observation(site), enc(obs(site, 1_000_000)));
    nc.publish(subjects.heartbeat('A'), enc({ kind: 'heartbeat', v: 1, siteId: 'A', agentId: 'agent-A', incarnation: { id: 'run-2', startedAt: 2 }, seq: 1_000_000, sentAt: Date.now(), leaseTtlMs: 3000, peers: {} }));
    await new Promise((r) => setTimeout(r, 500));
    await coordinator.settled();
    const versions = async () => Promise.all(['w1', 'w2'].map((w) => store.streamVersion(workloadStream(w))));
    const before = { versions: await versions(), views: JSON.stringify(coordinator.workloadViews()) };
    const dlBefore = deadLetters;

    const site = fc.constantFrom('A', 'B', 'C');
    const message: fc.Arbitrary<{ subject: string; data: Uint8Array; core: boolean }> = fc.oneof(
      // not JSON, or not UTF-8
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => ({ subject: subjects.observation('A'), data: Uint8Array.from([0xff, ...b]), core: false })),
      // JSON of the wrong shape
      fc.record({ s: site, extra: fc.jsonValue() }).map(({ s, extra }) => ({ subject: subjects.observation(s), data: enc({ ...obs(s, 5), workloads: extra, seq: 'x' }), core: false })),
      // a site speaking for another site
      fc.tuple(site, site).filter(([a, b]) => a !== b).map(([a, b]) => ({ subject: subjects.observation(a), data: enc(obs(b, 2_000_000)), core: false })),
      // an unknown site
      fc.constantFrom('Z', 'Q').map((s) => ({ subject: subjects.observation(s), data: enc(obs(s, 1)), core: false })),
      // replayed observation sequence numbers, even with alarming content
      fc.tuple(site, fc.integer({ min: 0, max: 1_000_000 })).map(([s, seq]) => ({ subject: subjects.observation(s), data: enc(obs(s, seq, [{ workloadId: 'w1', role: 'primary', healthy: false }])), core: false })),
      // an earlier run of the agents, replayed with sequence numbers ahead of the current run's
      fc.tuple(site, fc.integer({ min: 1_000_001, max: 2_000_000 })).map(([s, seq]) => ({ subject: subjects.observation(s), data: enc({ ...obs(s, seq, [{ workloadId: 'w1', role: 'primary', healthy: false }]), incarnation: { id: 'run-1', startedAt: 1 } }), core: false })),
      // results of commands that were never issued, or with stale epochs
      fc.tuple(fc.constantFrom('w1', 'w2'), fc.nat(5), fc.constantFrom('done', 'failed', 'refused')).map(([w, epoch, status]) => ({
        subject: subjects.commandResult(w === 'w1' ? 'B' : 'C'),
        data: enc({ kind: 'commandResult', v: 1, incarnation: { id: 'run-2', startedAt: 2 }, commandId: `${w}:${epoch}:0:promote:X:0`, workloadId: w, siteId: w === 'w1' ? 'B' : 'C', action: 'promote', epoch, status, startedAt: 1, completedAt: 2, detail: {} }),
        core: false,
      })),
      // replayed heartbeats
      fc.integer({ min: 0, max: 1_000_000 }).map((seq) => ({ subject: subjects.heartbeat('A'), data: enc({ kind: 'heartbeat', v: 1, siteId: 'A', agentId: 'agent-A', incarnation: { id: 'run-2', startedAt: 2 }, seq, sentAt: 1, leaseTtlMs: 3000, peers: {} }), core: true })),
    );
    const batch = fc.sample(message, { seed: SEED, numRuns: COUNT - 10 });
    const oversized = Array.from({ length: 10 }, () => ({ subject: subjects.observation('B'), data: new Uint8Array(300 * 1024).fill(0x20), core: false }));
    const all = [...batch, ...oversized];
    // JetStream publishes in parallel windows (each waits for its ack); core ones go straight out.
    for (let i = 0; i < all.length; i += 200) {
      await Promise.all(all.slice(i, i + 200).map((m) => (m.core ? (nc.publish(m.subject, m.data), undefined) : js.publish(m.subject, m.data))));
    }
    await eventually(() => deadLetters - dlBefore >= all.length, 120_000, 200);
    await coordinator.settled();
    expect(deadLetters - dlBefore).toBe(all.length);
    expect(coordinator.isReady).toBe(true);
    expect(await versions()).toEqual(before.versions);
    expect(JSON.stringify(coordinator.workloadViews())).toBe(before.views);
  });
});
