import { CommandSchema, workloadStream, type Command, type CommandResult, type Heartbeat, type Observation } from '@drc/contracts';
import { encodeJson, jetStreamOf } from '@drc/runtime';
import { eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../test-coordinator.fixture';

/*
 * Invariant 1a, never worse than doing nothing: no fence of a primary until a promotable replica
 * is chosen. Issue 17 saw (3) one timed-out probe of a healthy primary start a failover that
 * fenced it first and then, from one stale "copy unhealthy" reading of the only replica, found no
 * candidate and escalated with no database at all; and (4) right after a failover with cooldown
 * 0, a 1 s stall of the new primary, with the old one fenced and gone, fenced the new primary too.
 * Real coordinator, real NATS and PostgreSQL; the test plays the agents.
 */

interface Estate {
  t: TestCoordinator;
  beats: Set<string>;
  commands: Command[];
  stop(): Promise<void>;
}

let seq = 0;
const RUN = { id: 'run-1', startedAt: 1 };

async function startEstate(label: string, policy: Record<string, unknown>): Promise<Estate> {
  const t = await startTestCoordinator(label, {
    coordinator: { startupGraceMs: 0, siteLeaseTtlMs: 1000 },
    defaults: { policy: { debounceMs: 300, fenceMarginMs: 200, ...policy } },
    sites: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
    workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
  });
  const beats = new Set(['A', 'B', 'C']);
  const beat = () => {
    for (const s of beats) {
      const peers = Object.fromEntries(['A', 'B', 'C'].filter((p) => p !== s).map((p) => [p, beats.has(p)]));
      const hb: Heartbeat = { kind: 'heartbeat', v: 1, siteId: s, agentId: `${s}@t`, incarnation: RUN, seq: ++seq, sentAt: Date.now(), leaseTtlMs: 1000, peers };
      t.nc.publish(t.subjects.heartbeat(s), encodeJson(hb));
    }
  };
  beat();
  const timer = setInterval(beat, 200);
  // Every command the coordinator sends to the copies' sites, as their agents would receive it.
  const commands: Command[] = [];
  const subs = ['A', 'B'].map((s) =>
    t.nc.subscribe(t.subjects.commands(s), { callback: (_e, m) => void commands.push(CommandSchema.parse(m.json())) }),
  );
  return {
    t,
    beats,
    commands,
    async stop() {
      clearInterval(timer);
      for (const s of subs) s.unsubscribe();
      await t.stop();
    },
  };
}

const observation = (site: string, role: 'primary' | 'replica', healthy: boolean, detail?: string): Observation => ({
  kind: 'observation', v: 1, siteId: site, agentId: `${site}@t`, incarnation: RUN, seq: ++seq, observedAt: Date.now(),
  workloads: [{ workloadId: 'w1', role, healthy, ...(detail ? { detail } : {}), replication: { position: String(Date.now()), lagSeconds: 0.1, lagBytes: 0 } }],
});

async function report(e: Estate, site: string, role: 'primary' | 'replica', healthy: boolean, detail?: string): Promise<void> {
  await jetStreamOf(e.t.nc).publish(e.t.subjects.observation(site), encodeJson(observation(site, role, healthy, detail)));
}

async function answer(e: Estate, c: Command): Promise<void> {
  const result: CommandResult = {
    kind: 'commandResult', v: 1, incarnation: RUN, commandId: c.commandId, workloadId: c.workloadId, siteId: c.siteId, action: c.action, epoch: c.epoch,
    status: 'done', startedAt: Date.now(), completedAt: Date.now(), detail: {},
  };
  await jetStreamOf(e.t.nc).publish(e.t.subjects.commandResult(c.siteId), encodeJson(result));
}

const streamOf = async (e: Estate) => e.t.store.readStream(workloadStream('w1'));
const explain = async (e: Estate) =>
  `state ${e.t.coordinator.workloadView('w1')?.state}; sites ${e.t.coordinator.siteViews().map((s) => `${s.siteId}:${s.status}`).join(' ')}; commands ${e.commands.map((c) => `${c.action}@${c.siteId}`).join(', ') || 'none'}; stream ${(await streamOf(e)).map((x) => x.type).join(', ')}`;

/** Waits for a condition; on time-out, says where the workload stands. */
async function until<T>(e: Estate, cond: () => Promise<T | undefined | false> | T | undefined | false, ms: number): Promise<T> {
  return eventually(cond, ms).catch(async (err: unknown) => {
    throw new Error(`${String(err)}: ${await explain(e)}`);
  });
}

describe('invariant 1a - no fence of a primary until a promotable replica is chosen', () => {
  let e: Estate;
  beforeAll(async () => {
    e = await startEstate('nofence', {});
  });
  afterAll(async () => {
    await e?.stop();
  });

  it("one failed probe of a healthy primary, while the only replica's last reading was unhealthy: nothing is fenced, the primary is left as it was and why is recorded", async () => {
    const { coordinator } = e.t;
    await report(e, 'A', 'primary', true);
    await report(e, 'B', 'replica', true);
    await until(e, () => coordinator.workloadView('w1')?.state === 'protected' && coordinator.siteViews().every((s) => s.status === 'up'), 10_000);
    await report(e, 'B', 'replica', false, 'probe timed out'); // one failed probe of the replica
    await until(e, () => coordinator.workloadView('w1')?.state === 'degraded', 5_000);
    await report(e, 'A', 'primary', false, 'probe timed out after 250 ms'); // one failed probe of the primary

    // Either the coordinator gives up on this failover or it sends a command to a copy.
    await until(e, async () => e.commands.length > 0 || (await streamOf(e)).some((x) => x.type === 'Escalated'), 20_000);
    expect(e.commands.map((c) => `${c.action}@${c.siteId}`), await explain(e)).toEqual([]);
    const view = coordinator.workloadView('w1');
    expect(view).toMatchObject({ state: 'escalated', primarySite: 'A', epoch: 0 });
    const events = await streamOf(e);
    const suppressed = events.find((x) => x.type === 'FailoverSuppressed');
    expect(JSON.stringify(suppressed?.data)).toMatch(/no promotable replica.*primary.*A.*left untouched/);
    expect(events.map((x) => x.type)).not.toContain('FenceConfirmed');

    // The primary's next probe is fine: it was never touched, so it simply goes on serving.
    await report(e, 'A', 'primary', true);
    await until(e, () => coordinator.workloadView('w1')?.state === 'degraded', 5_000);
    expect(e.commands).toEqual([]);
  });
});

describe('invariant 1a - the last copy that could serve is never fenced when there is nowhere to move', () => {
  let e: Estate;
  beforeAll(async () => {
    e = await startEstate('nofence2', { cooldownSeconds: 0, autoReprotect: false });
  });
  afterAll(async () => {
    await e?.stop();
  });

  it('after a failover (cooldown 0), a 1 s stall of the new primary with the old one fenced and gone does not fence the new primary', async () => {
    const { coordinator } = e.t;
    await report(e, 'A', 'primary', true);
    await report(e, 'B', 'replica', true);
    await until(e, () => coordinator.workloadView('w1')?.state === 'protected' && coordinator.siteViews().every((s) => s.status === 'up'), 10_000);

    // Site A goes dark: a real failover to B, its agent answering the coordinator's commands.
    e.beats.delete('A');
    const promote = await until(e, () => e.commands.find((c) => c.action === 'promote' && c.siteId === 'B'), 20_000);
    await answer(e, promote);
    const redirect = await until(e, () => e.commands.find((c) => c.action === 'redirect' && c.siteId === 'B'), 10_000);
    await answer(e, redirect);
    await report(e, 'B', 'primary', true);
    await until(e, () => coordinator.workloadView('w1')?.state === 'failedOver', 10_000);
    expect(coordinator.workloadView('w1')).toMatchObject({ primarySite: 'B', epoch: 1 });
    // Its agent's next regular report (they come every second), now with B the primary.
    await report(e, 'B', 'primary', true);
    await new Promise((r) => setTimeout(r, 500));
    const before = e.commands.length;

    // The new primary stalls for a second, then answers again.
    await report(e, 'B', 'primary', false, 'probe timed out');
    await new Promise((r) => setTimeout(r, 1000));
    await report(e, 'B', 'primary', true);
    await until(e, () => coordinator.workloadView('w1')?.state === 'degraded', 15_000);
    // Nothing is sent to the new primary (what A's site may be sent is not this test's business).
    expect(e.commands.slice(before).filter((c) => c.siteId === 'B').map((c) => `${c.action}@${c.siteId}`), await explain(e)).toEqual([]);
    expect(coordinator.workloadView('w1')).toMatchObject({ primarySite: 'B', epoch: 1 });
    const confirmed = (await streamOf(e)).filter((x) => x.type === 'FenceConfirmed').map((x) => (x.data as { siteId: string }).siteId);
    expect(confirmed).toEqual(['A']); // A's, by lease expiry, in the first failover
    // Nothing was heard from A since it went dark: its last report from before (primary) is no
    // evidence of a writable copy now, and must not raise a rogue-primary alarm or a fence.
    const rogue = (await streamOf(e)).filter((x) => x.type === 'RoguePrimaryDetected').map((x) => JSON.stringify(x.data));
    expect(rogue).toEqual([]);
  });
});
