import { randomUUID } from 'node:crypto';
import { CommandSchema, workloadStream, type Command, type CommandResult, type Heartbeat, type Observation, type WorkloadRole } from '@drc/contracts';
import { encodeJson, jetStreamOf } from '@drc/runtime';
import { startTestCoordinator, type TestCoordinator } from '../test-coordinator.fixture';

/**
 * Not pure. A real coordinator (real NATS and PostgreSQL, `startTestCoordinator`) with the agents
 * of sites A, B and C played by the test: each site heartbeats every 200 ms while `up`, reports its
 * copy of w1 (primary at A, replica at B) every 300 ms in the role it holds, and carries out the
 * commands sent to it like a simulated copy (fence → fenced, promote → primary, reprotect →
 * replica), answering `done` on its own result subject. A site that is `down` does none of it,
 * and its copy keeps the role it had (a crash, not a fence).
 */
export interface PlayedEstate {
  t: TestCoordinator;
  /** Every command sent to A and B, in the order the played agents received them. */
  commands: Command[];
  /** The role each copy holds now (the test may set one: a copy that came back in another role). */
  roles: Map<string, WorkloadRole>;
  healthy: Map<string, boolean>;
  setUp(site: string, up: boolean): void;
  streamTypes(): Promise<string[]>;
  explain(): Promise<string>;
  stop(): Promise<void>;
}

export async function startPlayedEstate(label: string, policy: Record<string, unknown>, extra: { notifications?: { webhooks: Array<{ url: string }> } } = {}): Promise<PlayedEstate> {
  const t = await startTestCoordinator(label, {
    coordinator: { startupGraceMs: 0, siteLeaseTtlMs: 1000 },
    defaults: { policy: { debounceMs: 300, fenceMarginMs: 200, cooldownSeconds: 0, ...policy } },
    sites: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
    workloads: [{ id: 'w1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] }],
    ...(extra.notifications ? { notifications: extra.notifications } : {}),
  });
  const up = new Set(['A', 'B', 'C']);
  const roles = new Map<string, WorkloadRole>([['A', 'primary'], ['B', 'replica']]);
  const healthy = new Map<string, boolean>([['A', true], ['B', true]]);
  const incarnation = { id: randomUUID(), startedAt: Date.now() };
  let seq = 0;
  const js = jetStreamOf(t.nc);
  const beat = () => {
    for (const s of up) {
      const peers = Object.fromEntries(['A', 'B', 'C'].filter((p) => p !== s).map((p) => [p, up.has(p)]));
      const hb: Heartbeat = { kind: 'heartbeat', v: 1, siteId: s, agentId: `${s}@t`, incarnation, seq: ++seq, sentAt: Date.now(), leaseTtlMs: 1000, peers };
      t.nc.publish(t.subjects.heartbeat(s), encodeJson(hb));
    }
  };
  const report = () => {
    for (const [s, role] of roles) {
      if (!up.has(s)) continue;
      const now = Date.now();
      const obs: Observation = {
        kind: 'observation', v: 1, siteId: s, agentId: `${s}@t`, incarnation, seq: ++seq, observedAt: now,
        workloads: [{ workloadId: 'w1', role, healthy: healthy.get(s) ?? true, replication: { position: String(role === 'replica' ? now - 100 : now), lagSeconds: role === 'replica' ? 0.1 : 0, lagBytes: 0 } }],
      };
      js.publish(t.subjects.observation(s), encodeJson(obs)).catch(() => {});
    }
  };
  beat();
  const beats = setInterval(beat, 200);
  const reports = setInterval(report, 300);
  const commands: Command[] = [];
  const carryOut = (site: string, c: Command) => {
    if (!up.has(site)) return; // a dark site receives nothing
    commands.push(c);
    if (c.action === 'fence') roles.set(site, 'fenced');
    else if (c.action === 'promote') roles.set(site, 'primary');
    else if (c.action === 'reprotect' || c.action === 'demote') roles.set(site, 'replica');
    const result: CommandResult = {
      kind: 'commandResult', v: 1, incarnation, commandId: c.commandId, workloadId: c.workloadId, siteId: site, action: c.action, epoch: c.epoch,
      status: 'done', startedAt: Date.now(), completedAt: Date.now(), detail: {},
    };
    report(); // the new role is reported before the result, as an agent's next probe would
    js.publish(t.subjects.commandResult(site), encodeJson(result)).catch(() => {});
  };
  const subs = ['A', 'B'].map((s) => t.nc.subscribe(t.subjects.commands(s), { callback: (_e, m) => carryOut(s, CommandSchema.parse(m.json())) }));
  const streamTypes = async () => (await t.store.readStream(workloadStream('w1'))).map((e) => e.type);
  return {
    t,
    commands,
    roles,
    healthy,
    setUp(site, isUp) {
      if (isUp) up.add(site);
      else up.delete(site);
    },
    streamTypes,
    async explain() {
      const v = t.coordinator.workloadView('w1');
      return `state ${v?.state}, epoch ${v?.epoch}, primary ${v?.primarySite}, copies ${v?.replicas.map((r) => `${r.siteId}:${r.role}`).join(' ')}; commands ${commands.map((c) => `${c.action}@${c.siteId}#${c.epoch}`).join(', ') || 'none'}; stream ${(await streamTypes()).join(', ')}`;
    },
    async stop() {
      clearInterval(beats);
      clearInterval(reports);
      for (const s of subs) s.unsubscribe();
      await t.stop();
    },
  };
}
