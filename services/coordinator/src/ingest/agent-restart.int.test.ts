import { randomUUID } from 'node:crypto';
import { DeadLetterSchema, workloadStream, type AgentIncarnation, type DeadLetter, type Heartbeat, type Observation, type WorkloadObservation } from '@drc/contracts';
import { decodeJson, encodeJson, jetStreamOf } from '@drc/runtime';
import { eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../test-coordinator.fixture';

const SITES = ['A', 'B', 'C'];
const LEASE_MS = 1500;

/** One site's agent as the coordinator sees it on the wire: an id, and a seq that restarts at 0 with each process (a new incarnation). */
class WireAgent {
  beating = true;
  incarnation: AgentIncarnation = { id: randomUUID(), startedAt: Date.now() - 12 * 3600_000 };

  /** `seq`: how far the running process has counted (an agent up for half a day at 1 Hz is past 40,000). */
  constructor(
    readonly siteId: string,
    public seq: number,
  ) {}

  /** A new process: same agent id, seq from 0, a new incarnation. Returns the one before. */
  restart(): AgentIncarnation {
    const before = this.incarnation;
    this.seq = 0;
    this.incarnation = { id: randomUUID(), startedAt: Math.max(Date.now(), before.startedAt + 1) };
    return before;
  }

  heartbeat(peers: Record<string, boolean>, seq = this.seq++, incarnation = this.incarnation): Heartbeat {
    return { kind: 'heartbeat', v: 1, siteId: this.siteId, agentId: `${this.siteId}@host`, incarnation, seq, sentAt: Date.now(), leaseTtlMs: LEASE_MS, peers };
  }

  observation(workloads: WorkloadObservation[], seq = this.seq++, incarnation = this.incarnation): Observation {
    return { kind: 'observation', v: 1, siteId: this.siteId, agentId: `${this.siteId}@host`, incarnation, seq, observedAt: Date.now(), workloads };
  }
}

/**
 * Issue 17 item 2: an agent's seq restarts at 0 while its id stays the same, so every heartbeat
 * and observation after a restart was dead-lettered as a replay; the site stayed lost until the
 * coordinator restarted, and its workloads were failed over. Messages are ordered per agent
 * incarnation: a new process's messages are taken, an old process's replayed ones are not.
 */
describe('invariant 1a - an agent restart is not mistaken for a replay', () => {
  let t: TestCoordinator;
  const letters: DeadLetter[] = [];
  const agents = new Map(SITES.map((s) => [s, new WireAgent(s, 50_000)]));
  const copies: Record<string, WorkloadObservation> = {
    A: { workloadId: 'w1', role: 'primary', healthy: true, replication: { position: '100', lagSeconds: 0, lagBytes: 0 } },
    B: { workloadId: 'w1', role: 'replica', healthy: true, replication: { position: '100', lagSeconds: 0.1, lagBytes: 0 } },
  };
  let timer: NodeJS.Timeout | undefined;
  /** Sites the other agents' witness probes still reach, whether or not their agent heartbeats. */
  const witnessed = new Set<string>();

  const beat = () => {
    const js = jetStreamOf(t.nc);
    for (const a of agents.values()) {
      if (!a.beating) continue;
      const peers = Object.fromEntries(SITES.filter((p) => p !== a.siteId).map((p) => [p, agents.get(p)!.beating || witnessed.has(p)]));
      t.nc.publish(t.subjects.heartbeat(a.siteId), encodeJson(a.heartbeat(peers)));
      const copy = copies[a.siteId];
      if (copy) void js.publish(t.subjects.observation(a.siteId), encodeJson(a.observation([copy]))).catch(() => undefined);
    }
  };
  const status = (site: string) => t.coordinator.siteViews().find((s) => s.siteId === site)?.status;
  const eventTypes = async () => (await t.store.readStream(workloadStream('w1'))).map((e) => e.type);

  beforeAll(async () => {
    t = await startTestCoordinator('agentrestart', {
      coordinator: { startupGraceMs: 0, siteLeaseTtlMs: LEASE_MS },
      defaults: { policy: { debounceMs: 500, fenceMarginMs: 200 } },
      sites: SITES.map((id) => ({ id })),
      workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
    });
    t.nc.subscribe(t.subjects.deadLetter(), { callback: (_err, msg) => void letters.push(DeadLetterSchema.parse(decodeJson(msg.data))) });
    beat();
    timer = setInterval(beat, 200);
    await eventually(() => SITES.every((s) => status(s) === 'up') && t.coordinator.workloadView('w1')?.state === 'protected', 15_000);
  });

  afterAll(async () => {
    if (timer) clearInterval(timer);
    await t?.stop();
  });

  it('a restart shorter than the lease: the new process is heard at once, nothing moves, its old messages are refused', async () => {
    const a = agents.get('A')!;
    const oldSeq = a.seq;
    const lettersBefore = letters.length;

    a.beating = false;
    await new Promise((r) => setTimeout(r, 300)); // the process restarts, well within the lease
    const oldRun = a.restart();
    a.beating = true;

    // Sample A's status for two leases: it must never be anything but up.
    const seen = new Set<string>();
    const until = Date.now() + 2 * LEASE_MS;
    while (Date.now() < until) {
      seen.add(String(status('A')));
      await new Promise((r) => setTimeout(r, 50));
    }
    await t.coordinator.settled();
    const rejected = letters.slice(lettersBefore).map((l) => l.reason);
    expect(rejected, 'the new process was dead-lettered').toEqual([]);
    expect([...seen]).toEqual(['up']);
    expect(a.seq).toBeLessThan(oldSeq); // the new process's seq really is behind the old one's
    expect(t.coordinator.workloadView('w1')).toMatchObject({ state: 'protected', primarySite: 'A' });
    expect(await eventTypes()).not.toContain('FailoverStarted');
    expect(await eventTypes()).not.toContain('PrimaryFailureObserved');

    // The old process's messages, replayed now, are refused: seq far ahead, but an old incarnation.
    const js = jetStreamOf(t.nc);
    const replayedHeartbeat = a.heartbeat({ B: true, C: true }, oldSeq + 1_000, oldRun);
    const replayedObservation = a.observation([{ ...copies.A!, healthy: false, detail: 'replayed: the old process saw it unhealthy' }], oldSeq + 1_001, oldRun);
    t.nc.publish(t.subjects.heartbeat('A'), encodeJson(replayedHeartbeat));
    await js.publish(t.subjects.observation('A'), encodeJson(replayedObservation));
    // And the new process's own messages, sent twice, are replays as before.
    await js.publish(t.subjects.observation('A'), encodeJson(a.observation([copies.A!], 0)));
    await eventually(() => letters.length >= lettersBefore + 3, 10_000);
    const reasons = letters.slice(lettersBefore).map((l) => l.reason).join('\n');
    expect(reasons).toMatch(/heartbeat.*older incarnation/);
    expect(reasons).toMatch(/observation.*older incarnation/);
    expect(reasons).toMatch(/replayed or reordered observation: seq 0/);
    await t.coordinator.settled();
    expect(t.coordinator.workloadView('w1')).toMatchObject({ state: 'protected', primarySite: 'A' });
  });

  it('a restart longer than the lease: the site is lost meanwhile, and up again as soon as the new process is heard', async () => {
    const c = agents.get('C')!; // C holds no copy: only its status is at stake
    c.beating = false;
    await eventually(() => status('C') === 'lost', 10_000);
    c.restart();
    c.beating = true;
    await eventually(() => status('C') === 'up', 5_000).catch((e: unknown) => {
      throw new Error(`${String(e)}: C is ${status('C')}; dead letters: ${letters.slice(-3).map((l) => l.reason).join(' | ')}`);
    });
  });

  it("a restart on a host whose clock stepped back: once the newest run has been silent past the lease, the new run is heard", async () => {
    const c = agents.get('C')!;
    c.beating = false;
    await eventually(() => status('C') === 'lost', 10_000);
    // NTP stepped the host's clock back an hour while the agent was down: the new process's
    // start time is earlier than the run the coordinator heard last.
    const before = c.restart();
    c.incarnation = { id: randomUUID(), startedAt: before.startedAt - 3600_000 };
    const lettersBefore = letters.length;
    c.beating = true;
    await eventually(() => status('C') === 'up', 5_000).catch((e: unknown) => {
      throw new Error(`${String(e)}: C is ${status('C')}; dead letters: ${letters.slice(lettersBefore).slice(-2).map((l) => l.reason).join(' | ')}`);
    });
  });

  it('the same with witnesses still reaching the new run (the site suspect, never lost): heard again once the old run has been silent a lease', async () => {
    const c = agents.get('C')!;
    witnessed.add('C'); // the peers' probes reach C's restarting agent: C goes suspect, not lost
    c.beating = false;
    await eventually(() => status('C') === 'suspect', 10_000);
    const before = c.restart();
    c.incarnation = { id: randomUUID(), startedAt: before.startedAt - 3600_000 };
    const lettersBefore = letters.length;
    c.beating = true;
    await eventually(() => status('C') === 'up', 2 * LEASE_MS + 5_000).catch((e: unknown) => {
      throw new Error(`${String(e)}: C is ${status('C')}; dead letters: ${letters.slice(lettersBefore).slice(-2).map((l) => l.reason).join(' | ')}`);
    });
    witnessed.delete('C');
  });
});
