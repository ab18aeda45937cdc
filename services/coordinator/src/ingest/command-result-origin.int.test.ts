import { CommandSchema, DeadLetterSchema, workloadStream, type Command, type CommandResult, type DeadLetter, type Heartbeat, type Observation } from '@drc/contracts';
import { decodeJson, encodeJson, jetStreamOf } from '@drc/runtime';
import { eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../test-coordinator.fixture';

/**
 * Issue 17 item 1: the coordinator took any result whose command id was pending. A third site,
 * holding no copy of the workload, published `done` for the pending fence of the primary's site;
 * the stream showed FenceConfirmed and the replica was promoted while the old primary kept
 * serving. A result counts only from the site the command was sent to, on that site's own
 * subject, for the action and epoch it was sent with.
 */
describe('invariant 1 - a fence result counts only from the site the fence was sent to', () => {
  let t: TestCoordinator;
  const letters: DeadLetter[] = [];
  const commands: Command[] = [];
  let seq = 0;
  // One run of every agent (their messages are ordered per incarnation).
  const incarnation = { id: 'test-run', startedAt: Date.now() };
  let reportA = true;
  let timer: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    t = await startTestCoordinator('cmdorigin', {
      coordinator: { startupGraceMs: 60_000, siteLeaseTtlMs: 3000 },
      // The fence stays pending for the whole test: no timeout, no retry gets in the way.
      defaults: { policy: { fenceTimeoutMs: 120_000, promoteTimeoutMs: 120_000, retries: 0 } },
      sites: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
      workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
    });
    const { nc, subjects } = t;
    const js = jetStreamOf(nc);
    nc.subscribe(t.subjects.deadLetter(), { callback: (_e, m) => void letters.push(DeadLetterSchema.parse(decodeJson(m.data))) });
    nc.subscribe(t.subjects.allCommands(), {
      callback: (_e, m) => {
        const cmd = CommandSchema.parse(decodeJson(m.data));
        commands.push(cmd);
        // An honest agent at B answers whatever it is asked (a check before the fence, say); the
        // fence at A is what this test answers itself.
        if (cmd.siteId === 'B') void js.publish(subjects.commandResult('B'), encodeJson(resultFor(cmd, 'B')));
      },
    });
    // Live agents: heartbeats with witness views, and fresh reports of both copies.
    const tickOnce = () => {
      for (const s of ['A', 'B', 'C']) {
        const hb: Heartbeat = { kind: 'heartbeat', v: 1, siteId: s, agentId: `${s}@t`, incarnation, seq: ++seq, sentAt: Date.now(), leaseTtlMs: 3000, peers: {} };
        nc.publish(subjects.heartbeat(s), encodeJson(hb));
      }
      if (reportA) void js.publish(subjects.observation('A'), encodeJson(observation('A', 'primary')));
      void js.publish(subjects.observation('B'), encodeJson(observation('B', 'replica')));
    };
    tickOnce();
    timer = setInterval(tickOnce, 300);
    await eventually(() => t.coordinator.isLeader && t.coordinator.hasWorkload('w1'), 15_000);
  });

  afterAll(async () => {
    if (timer) clearInterval(timer);
    await t?.stop();
  });

  const observation = (site: string, role: 'primary' | 'replica'): Observation => ({
    kind: 'observation', v: 1, siteId: site, agentId: `${site}@t`, incarnation, seq: ++seq, observedAt: Date.now(),
    workloads: [{ workloadId: 'w1', role, healthy: true, replication: { position: '1000', lagSeconds: 0, lagBytes: 0 } }],
  });
  const resultFor = (cmd: Command, site: string, over: Partial<CommandResult> = {}): CommandResult => ({
    kind: 'commandResult', v: 1, incarnation, commandId: cmd.commandId, workloadId: cmd.workloadId, siteId: site, action: cmd.action, epoch: cmd.epoch,
    status: 'done', startedAt: Date.now(), completedAt: Date.now(), detail: {}, ...over,
  });
  const streamTypes = async () => (await t.store.readStream(workloadStream('w1'))).map((e) => e.type);

  it('a third site answering done for the primary site fence is dead-lettered; the fenced site answering is taken', async () => {
    const { coordinator, nc, subjects } = t;
    const js = jetStreamOf(nc);
    await eventually(() => coordinator.workloadView('w1')?.replicas.every((r) => r.healthy && r.position === '1000'), 15_000);

    const started = await coordinator.operatorCommand({ workloadId: 'w1', command: 'failover', actor: { kind: 'operator', id: 'alice' }, requestId: 'fo-1', reason: 'test' });
    expect(started.accepted).toBe(true);
    // However the failover begins (fence first, or a replica chosen first), a fence goes to A.
    const fence = await eventually(() => commands.find((c) => c.siteId === 'A' && c.action === 'fence'), 30_000).catch((e: unknown) => {
      throw new Error(`${String(e)}: no fence sent to A; state ${coordinator.workloadView('w1')?.state}, commands ${commands.map((c) => c.commandId).join(', ')}`);
    });
    reportA = false;
    await coordinator.settled();

    // Site C holds no copy of w1; it knows the fence's id (ids are predictable) and answers it,
    // on its own subject with its own site in the body, so the message itself is well-formed.
    const lettersBefore = letters.length;
    await js.publish(subjects.commandResult('C'), encodeJson(resultFor(fence, 'C')));
    await eventually(async () => letters.length > lettersBefore || (await streamTypes()).includes('FenceConfirmed'), 15_000);
    await coordinator.settled();
    const types = await streamTypes();
    expect(types, 'a result from site C confirmed the fence of site A').not.toContain('FenceConfirmed');
    const forged = letters.slice(lettersBefore).find((l) => l.subject === subjects.commandResult('C'));
    expect(forged?.reason).toMatch(/sent to site "A".*site "C"|site "C".*sent to site "A"/);
    expect(forged?.issues).toEqual([expect.objectContaining({ path: 'siteId' })]);
    const events = await t.store.readStream(workloadStream('w1'));
    expect(events.filter((e) => e.type === 'CommandResultReceived').map((e) => (e.data as { siteId: string }).siteId)).not.toContain('C');

    // A's agent answering for another action under the fence's id is not the fence's result either.
    const before2 = letters.length;
    await js.publish(subjects.commandResult('A'), encodeJson(resultFor(fence, 'A', { action: 'unfence' })));
    await eventually(() => letters.length > before2, 15_000);
    expect(letters.at(-1)?.reason).toMatch(/action "unfence".*"fence"/);
    expect(letters.at(-1)?.issues).toEqual([expect.objectContaining({ path: 'action' })]);

    // The fenced site's own answer is taken.
    await js.publish(subjects.commandResult('A'), encodeJson(resultFor(fence, 'A')));
    await eventually(async () => (await streamTypes()).includes('FenceConfirmed'), 15_000);
    const confirmed = (await t.store.readStream(workloadStream('w1'))).find((e) => e.type === 'FenceConfirmed');
    expect(confirmed?.data).toMatchObject({ siteId: 'A', by: 'agent' });
  });
});
