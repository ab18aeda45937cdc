import { CommandSchema, type Command, type CommandResult, type Heartbeat, type Observation } from '@drc/contracts';
import { decodeJson, encodeJson, jetStreamOf } from '@drc/runtime';
import { eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../test-coordinator.fixture';
import { createApi } from './app';

/**
 * Issue 17 item 8: `/lb` answered 200 for a site that was being fenced. `escalated` was not taken
 * for a moving state, so a primary whose fence had timed out unanswered (it may yet have been
 * carried out) or had been confirmed (the copy is stopped) kept 200 until its next report. 200
 * only for the copy confirmed primary now, with no fence pending or done.
 */
describe('/lb - 200 only for the confirmed primary, never for a site with a fence pending or done', () => {
  let t: TestCoordinator;
  let app: ReturnType<typeof createApi>;
  const commands: Command[] = [];
  let seq = 0;
  // One run of every agent (their messages are ordered per incarnation).
  const incarnation = { id: 'test-run', startedAt: Date.now() };
  const reportingPrimary = new Set(['w1', 'w2', 'w3', 'w4']);
  let timer: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    t = await startTestCoordinator('lbfence', {
      coordinator: { startupGraceMs: 60_000, siteLeaseTtlMs: 3000 },
      defaults: { policy: { fenceTimeoutMs: 60_000, promoteTimeoutMs: 60_000, retries: 0 } },
      sites: [{ id: 'A' }, { id: 'B' }],
      workloads: [
        // w1: the fence to A is never answered and times out: escalated with the fence unresolved.
        { id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'], policy: { fenceTimeoutMs: 1500 } },
        // w2: A confirms its fence, then B's promotion fails: escalated with A stopped.
        { id: 'w2', driver: 'sim', primarySite: 'A', replicaSites: ['B'] },
        // w3: untouched, the control: its primary stays 200 throughout.
        { id: 'w3', driver: 'sim', primarySite: 'A', replicaSites: ['B'] },
        // w4: its only replica is unhealthy, so a failover finds no candidate and waits, fencing nothing.
        { id: 'w4', driver: 'sim', primarySite: 'A', replicaSites: ['B'], policy: { replicaWaitMs: 120_000 } },
      ],
    });
    const { nc, subjects } = t;
    const js = jetStreamOf(nc);
    const answer = (cmd: Command, status: CommandResult['status']) => {
      const r: CommandResult = { kind: 'commandResult', v: 1, incarnation, commandId: cmd.commandId, workloadId: cmd.workloadId, siteId: cmd.siteId, action: cmd.action, epoch: cmd.epoch, status, startedAt: Date.now(), completedAt: Date.now(), detail: {} };
      void js.publish(subjects.commandResult(cmd.siteId), encodeJson(r));
    };
    nc.subscribe(subjects.allCommands(), {
      callback: (_e, m) => {
        const cmd = CommandSchema.parse(decodeJson(m.data));
        commands.push(cmd);
        if (cmd.siteId === 'A' && cmd.action === 'fence') {
          // The fenced copy stops reporting (w2's agent would say `fenced` at its next report;
          // this test looks at the moment before it).
          reportingPrimary.delete(cmd.workloadId);
          if (cmd.workloadId === 'w2') answer(cmd, 'done');
        } else if (cmd.siteId === 'B') answer(cmd, cmd.workloadId === 'w2' && cmd.action === 'promote' ? 'failed' : 'done');
      },
    });
    const tickOnce = () => {
      for (const s of ['A', 'B']) {
        const hb: Heartbeat = { kind: 'heartbeat', v: 1, siteId: s, agentId: `${s}@t`, incarnation, seq: ++seq, sentAt: Date.now(), leaseTtlMs: 3000, peers: {} };
        nc.publish(subjects.heartbeat(s), encodeJson(hb));
      }
      const copies = (role: 'primary' | 'replica', ids: string[]): Observation['workloads'] =>
        ids.map((workloadId) => ({ workloadId, role, healthy: !(role === 'replica' && workloadId === 'w4'), replication: { position: '1000', lagSeconds: 0, lagBytes: 0 } }));
      const obs = (site: string, workloads: Observation['workloads']): Observation => ({ kind: 'observation', v: 1, siteId: site, agentId: `${site}@t`, incarnation, seq: ++seq, observedAt: Date.now(), workloads });
      if (reportingPrimary.size > 0) void js.publish(subjects.observation('A'), encodeJson(obs('A', copies('primary', [...reportingPrimary]))));
      void js.publish(subjects.observation('B'), encodeJson(obs('B', copies('replica', ['w1', 'w2', 'w3', 'w4']))));
    };
    tickOnce();
    timer = setInterval(tickOnce, 300);
    await eventually(() => t.coordinator.isLeader && t.coordinator.hasWorkload('w3'), 15_000);
    app = createApi({ coordinator: t.coordinator, store: t.store, nc, warn: () => {} });
  });

  afterAll(async () => {
    if (timer) clearInterval(timer);
    await t?.stop();
  });

  const lb = async (w: string, site: string) => {
    const res = await app.request(`/lb/workloads/${w}/primary/${site}`);
    return { status: res.status, body: (await res.text()).trim() };
  };
  const failover = (w: string) => t.coordinator.operatorCommand({ workloadId: w, command: 'failover', actor: { kind: 'operator', id: 'alice' }, requestId: `fo-${w}`, reason: 'test' });
  const stateOf = (w: string) => t.coordinator.workloadView(w)?.state ?? '';

  it('a primary whose fence timed out unanswered, or was confirmed, gets 503 while the workload is escalated', async () => {
    const { coordinator } = t;
    await eventually(() => ['w1', 'w2', 'w3'].every((w) => coordinator.workloadView(w)?.replicas.every((r) => r.healthy && r.position === '1000')), 15_000);
    for (const w of ['w1', 'w2', 'w3']) {
      expect(await lb(w, 'A'), `${w} before any move`).toEqual({ status: 200, body: 'primary' });
      expect((await lb(w, 'B')).status).toBe(503);
    }

    expect((await failover('w1')).accepted).toBe(true);
    expect((await failover('w2')).accepted).toBe(true);
    await eventually(() => commands.some((c) => c.workloadId === 'w1' && c.siteId === 'A' && c.action === 'fence'), 30_000);
    await eventually(() => stateOf('w1') === 'escalated' && stateOf('w2') === 'escalated', 30_000).catch((e: unknown) => {
      throw new Error(`${String(e)}: w1 ${stateOf('w1')}, w2 ${stateOf('w2')}, commands ${commands.map((c) => c.commandId).join(', ')}`);
    });
    await coordinator.settled();
    // Neither escalation moved the primary role: A is still the workloads' primary in the view.
    expect(coordinator.workloadView('w1')?.primarySite).toBe('A');
    expect(coordinator.workloadView('w2')?.primarySite).toBe('A');

    const w1 = await lb('w1', 'A');
    const w2 = await lb('w2', 'A');
    // w1: the fence timed out unanswered; w2: the fence was confirmed, then the promotion failed.
    expect({ w1, w2 }).toEqual({ w1: { status: 503, body: expect.stringMatching(/fence/) }, w2: { status: 503, body: expect.stringMatching(/fence/) } });
    expect((await lb('w1', 'B')).status).toBe(503);
    expect((await lb('w2', 'B')).status).toBe(503);
    expect(await lb('w3', 'A'), 'w3 was never touched').toEqual({ status: 200, body: 'primary' });

    // Never worse than doing nothing: once an operator acknowledges w1's escalation (its fence was
    // never carried out, A still serves and says so), A is the primary again for the load balancer.
    const ack = await coordinator.operatorCommand({ workloadId: 'w1', command: 'acknowledge', actor: { kind: 'operator', id: 'alice' }, requestId: 'ack-w1' });
    expect(ack).toMatchObject({ accepted: true, state: 'protected' });
    reportingPrimary.add('w1');
    await eventually(async () => (await lb('w1', 'A')).status === 200, 15_000);
    expect(await lb('w2', 'A')).toMatchObject({ status: 503 });
  });

  it('a failover still looking for a replica has fenced nothing: the untouched primary keeps 200', async () => {
    await eventually(() => t.coordinator.workloadView('w4')?.replicas.some((r) => r.siteId === 'B' && !r.healthy), 15_000);
    expect(await lb('w4', 'A')).toEqual({ status: 200, body: 'primary' });
    expect((await failover('w4')).accepted).toBe(true);
    await eventually(() => stateOf('w4').startsWith('failingOver'), 15_000);
    await t.coordinator.settled();
    expect(commands.filter((c) => c.workloadId === 'w4'), 'nothing was sent for w4').toEqual([]);
    expect(await lb('w4', 'A'), `w4 is ${stateOf('w4')}`).toEqual({ status: 200, body: 'primary' });
    expect((await lb('w4', 'B')).status).toBe(503);
  });
});
