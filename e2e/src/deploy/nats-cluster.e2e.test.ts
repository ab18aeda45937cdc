import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSubjects } from '@drc/contracts';
import { connectNats, decodeJson, jetstreamManager, durableConsumer, encodeJson, ensureStreams, jetStreamOf, type NatsConnection } from '@drc/runtime';
import { chaosRandom, createTestDatabase, eventually, freePort, startProcess, type ManagedProcess, type TestDatabase } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { repoRoot, startEstateWatcher } from '../harness';
import { findExecutable, monitor, natsDeployDir, startDeployNatsCluster, type DeployNatsCluster, type NatsUser } from './nats-cluster';
import { dashboardQueries, selectorsOf } from './promql';

const chaos = chaosRandom('deploy nats');

const subjects = createSubjects('drc'); // the prefix accounts.conf is written for
const natsServer = findExecutable('nats-server');
if (!natsServer) console.warn('[deploy/nats] skipped: nats-server is not installed (apt-get install nats-server)');

/** Pure. The SITE_<ID> permission blocks of accounts.conf, by lowercase site id. */
function siteBlocks(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^SITE_([A-Z0-9_]+) = \{\n([\s\S]*?)\n\}$/gm)) out.set(m[1]!.toLowerCase(), m[2]!);
  return out;
}

describe('deploy/nats - accounts.conf', () => {
  it('every site block is the same as the others with only the site id changed', () => {
    const blocks = siteBlocks(readFileSync(join(natsDeployDir, 'accounts.conf'), 'utf8'));
    expect([...blocks.keys()].sort()).toEqual(['ams', 'dub', 'fra']);
    const normalised = [...blocks].map(([site, body]) => body.replace(new RegExp(`(?<=[._])${site}(?=\\b|[._"])`, 'g'), '<site>'));
    for (const n of normalised) {
      expect(n).toBe(normalised[0]);
      expect(n).toContain('"drc.v1.site.<site>.>"');
      expect(n).toContain('"$JS.API.CONSUMER.CREATE.DRC_COMMANDS.agent_<site>.drc.v1.cmd.<site>"');
    }
  });
});

describe.skipIf(!natsServer)('deploy/nats - the shipped 3-node cluster with per-site permissions', () => {
  let cluster: DeployNatsCluster;
  let streamsCreated = '';
  const conns: NatsConnection[] = [];
  const connectAs = async (user: NatsUser, node = 0) => {
    const nc = await connectNats({ url: cluster.url(node), name: `test-${user}`, user, pass: cluster.passwords[user], reconnect: false });
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    cluster = await startDeployNatsCluster();
    // As compose's nats-init and deploy/README.md do: the streams are created once, replicated
    // three ways, before agents start; agents may inspect and update them, never create them.
    const init = startProcess({
      name: 'create-streams',
      command: process.execPath,
      args: ['--import', 'tsx', join(natsDeployDir, 'create-streams.ts'), '--replicas', '3', '--nats', cluster.url(2)],
      cwd: repoRoot,
      env: { NATS_USER: 'coordinator', NATS_PASSWORD: cluster.passwords.coordinator },
    });
    const code = await init.exited;
    streamsCreated = init.output();
    expect(code, streamsCreated).toBe(0);
  });

  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await cluster?.stop();
  });

  it('forms a cluster: each node routes to the two others and a 3-replica stream lives on all three', async () => {
    await eventually(async () => {
      const routez = await Promise.all(cluster.nodes.map((n) => monitor<{ num_routes: number; routes?: Array<{ remote_name?: string }> }>(n.ports, '/routez')));
      return routez.every((r) => r.num_routes === 2);
    }, 20_000);
    const varz = await monitor<{ server_name: string; cluster: { name: string } }>(cluster.nodes[1]!.ports, '/varz');
    expect(varz).toMatchObject({ server_name: 'nats-2', cluster: { name: 'drc' } });

    expect(streamsCreated).toMatch(new RegExp(`stream ${subjects.streams.commands}: subjects ${subjects.allCommands().replace(/[.>]/g, '\\$&')}, 3 replicas\n`));
    const jsm = await ensureStreams(await connectAs('coordinator'), subjects);
    const info = await jsm.streams.info(subjects.streams.commands);
    expect(info.config.num_replicas).toBe(3);
    const placed = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)].sort();
    expect(placed).toEqual(['nats-1', 'nats-2', 'nats-3']);
  });

  it('refuses a client without credentials or with a wrong password', async () => {
    await expect(connectNats({ url: cluster.url(0), name: 'anonymous', reconnect: false })).rejects.toThrow(/refused our credentials/);
    await expect(connectNats({ url: cluster.url(0), name: 'liar', user: 'site-fra', pass: cluster.passwords['site-ams'], reconnect: false })).rejects.toThrow(/refused our credentials/);
  });

  it("site fra does what its agent does: the agent's own JetStream calls, its subjects, its commands", async () => {
    const co = await connectAs('coordinator');
    const fra = await connectAs('site-fra', 1);
    // The agent's start-up calls, as the agent makes them (services/site-agent/src/agent/site-agent.ts).
    const jsm = await ensureStreams(fra, subjects);
    const consumer = await durableConsumer(fra, subjects.streams.commands, 'agent_fra', { filter: subjects.commands('fra'), deliverAll: false, ackWaitMs: 60_000 });
    // The agent's stream update must not undo the cluster's replication.
    expect((await jsm.streams.info(subjects.streams.agents)).config.num_replicas).toBe(3);

    const coJs = jetStreamOf(co);
    await coJs.publish(subjects.commands('ams'), encodeJson({ for: 'ams' }));
    await coJs.publish(subjects.commands('fra'), encodeJson({ for: 'fra' }));
    // A new replicated consumer may still be electing its leader: pull again until it answers.
    const m = await eventually(async () => (await consumer.next({ expires: 2000 })) ?? undefined, 30_000);
    expect(decodeJson(m.data)).toEqual({ for: 'fra' });
    expect(await m.ackAck()).toBe(true);

    const ack = await jetStreamOf(fra).publish(subjects.observation('fra'), encodeJson({ probe: true }));
    expect(ack.stream).toBe(subjects.streams.agents);
    const heard: string[] = [];
    const sub = co.subscribe(subjects.allHeartbeats(), { callback: (_e, msg) => void heard.push(msg.subject) });
    // Core NATS drops what no one listens to yet: the subscription's interest reaches the other
    // node over the route a moment after flush, so publish until it is heard.
    await eventually(() => {
      fra.publish(subjects.heartbeat('fra'), encodeJson({ probe: true }));
      return heard.includes(subjects.heartbeat('fra'));
    }, 10_000);
    sub.unsubscribe();
  });

  it("site fra is refused by the server on site ams's subjects and commands", async () => {
    const co = await connectAs('coordinator');
    const fra = await connectAs('site-fra', 2);
    const violations: string[] = [];
    void (async () => {
      for await (const s of fra.status()) if (s.type === 'error') violations.push(String(s.error.message));
    })();

    // Publishing as another site: JetStream and core NATS.
    await expect(jetStreamOf(fra).publish(subjects.observation('ams'), encodeJson({ spoof: true }))).rejects.toThrow(/Permissions Violation for Publish to "drc\.v1\.site\.ams\.obs"/);
    await expect(jetStreamOf(fra).publish(subjects.commandResult('ams'), encodeJson({ spoof: true }))).rejects.toThrow(/Permissions Violation for Publish/);
    const heard: Array<{ subject: string; body: unknown }> = [];
    const sub = co.subscribe(subjects.allHeartbeats(), { callback: (_e, msg) => void heard.push({ subject: msg.subject, body: decodeJson(msg.data) }) });
    // First make sure the subscription's interest has reached fra's node (core NATS drops what
    // no one listens to), so that a missing spoofed message can only mean the server refused it.
    await eventually(() => {
      fra.publish(subjects.heartbeat('fra'), encodeJson({ warmup: true }));
      return heard.length > 0;
    }, 10_000);
    fra.publish(subjects.heartbeat('ams'), encodeJson({ spoof: true }));
    // One connection's messages arrive in order: once this marker is heard, the spoofed one sent
    // before it would have been heard too.
    fra.publish(subjects.heartbeat('fra'), encodeJson({ marker: true }));
    await eventually(() => heard.some((h) => JSON.stringify(h.body) === '{"marker":true}'), 10_000);
    expect(heard.map((h) => h.subject)).not.toContain(subjects.heartbeat('ams'));
    sub.unsubscribe();

    // Reading ams's commands: core subscription, ams's consumer, or a consumer of its own
    // filtered on ams, or the stream itself.
    const spy = fra.subscribe(subjects.commands('ams'));
    await expect(spy.closed).resolves.toMatchObject({ message: expect.stringMatching(/Permissions Violation for Subscription to "drc\.v1\.cmd\.ams"/) });
    const wide = fra.subscribe(subjects.allCommands());
    await expect(wide.closed).resolves.toMatchObject({ message: expect.stringMatching(/Permissions Violation for Subscription/) });
    const jsm = await ensureStreams(fra, subjects);
    await expect(jsm.consumers.info(subjects.streams.commands, 'agent_ams')).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.INFO\.DRC_COMMANDS\.agent_ams"/);
    await expect(fra.request(`$JS.API.CONSUMER.MSG.NEXT.${subjects.streams.commands}.agent_ams`, encodeJson({ batch: 1 }), { timeout: 5000 })).rejects.toThrow(/Permissions Violation/);
    await expect(
      jsm.consumers.add(subjects.streams.commands, { durable_name: 'agent_fra', filter_subject: subjects.commands('ams'), ack_policy: 'explicit' as never }),
    ).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.CREATE\.DRC_COMMANDS\.agent_fra\.drc\.v1\.cmd\.ams"/);
    await expect(jsm.streams.getMessage(subjects.streams.commands, { last_by_subj: subjects.commands('ams') })).rejects.toThrow(/Permissions Violation/);
    await expect(jsm.streams.delete(subjects.streams.commands)).rejects.toThrow(/Permissions Violation/);

    expect(violations.join('\n')).toMatch(/Subscription to "drc\.v1\.cmd\.ams"/);
    expect(fra.isClosed()).toBe(false); // refused, not disconnected: the agent keeps working
  });

  describe('the real coordinator and three site agents on the shipped users', () => {
    let db: TestDatabase | undefined;
    const procs: ManagedProcess[] = [];
    let apiPort = 0;
    let watch: Awaited<ReturnType<typeof startEstateWatcher>> | undefined;

    afterAll(async () => {
      const watched = watch?.finish();
      await watched?.catch(() => undefined);
      await Promise.all(procs.map((p) => p.stop()));
      await watched;
      await db?.drop();
    });

    it('agents report in, the coordinator leads, and a body naming another site than its subject is dead-lettered', async () => {
      db = await createTestDatabase('deploy_nats');
      const dir = mkdtempSync(join(tmpdir(), 'drc-deploy-procs-'));
      const config = join(repoRoot, 'examples', 'three-sites.yaml');
      apiPort = await freePort();
      const tsx = (name: string, script: string, args: string[], env: Record<string, string>) =>
        startProcess({ name, command: process.execPath, args: ['--import', 'tsx', join(repoRoot, script), ...args], cwd: repoRoot, env: { LOG_LEVEL: process.env.DRC_E2E_LOG_LEVEL ?? 'warn', ...env }, logFile: join(dir, `${name}.log`) });
      const sites = ['fra', 'ams', 'dub'] as const;
      const simRoleDir = join(dir, 'sim-roles');
      watch = await startEstateWatcher('deploy-nats', parseYaml(readFileSync(config, 'utf8')) as Parameters<typeof startEstateWatcher>[1], simRoleDir);
      sites.forEach((site, i) => {
        const user = `site-${site}` as const;
        // Each agent names its nearest node first and the others after it, as deploy/ does.
        const urls = [0, 1, 2].map((k) => cluster.url((i + k) % 3)).join(',');
        procs.push(tsx(`agent-${site}`, 'services/site-agent/src/main.ts', ['--config', config, '--site', site, '--nats', urls, '--state-dir', join(dir, `state-${site}`)], { NATS_USER: user, NATS_PASSWORD: cluster.passwords[user], DRC_NATS_REPLICAS: '3', DRC_SIM_TEST_ROLE_DIR: simRoleDir }));
      });
      await Promise.all(procs.map((p, i) => p.waitFor(new RegExp(`agent ${sites[i]} ready`), 60_000)));
      const co = tsx('coordinator', 'services/coordinator/src/main.ts', ['--config', config, '--id', 'deploy-co-1', '--port', String(apiPort), '--nats', [0, 1, 2].map((k) => cluster.url(k)).join(',')], {
        DRC_NATS_REPLICAS: '3',
        NATS_USER: 'coordinator',
        NATS_PASSWORD: cluster.passwords.coordinator,
        DATABASE_URL: db.url,
      });
      procs.push(co);
      await co.waitFor(/listening on http/, 60_000);

      const api = async <T>(path: string): Promise<T> => {
        const res = await fetch(`http://127.0.0.1:${apiPort}${path}`);
        if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
        return (await res.json()) as T;
      };
      await eventually(async () => (await api<{ role: string }>('/readyz')).role === 'leader', 30_000);
      const sitesUp = await eventually(async () => {
        const r = await api<{ sites: Array<{ siteId: string; status: string }> }>('/api/v1/sites');
        return r.sites.every((s) => s.status === 'up') && r.sites;
      }, 30_000);
      expect(sitesUp.map((s) => s.siteId).sort()).toEqual(['ams', 'dub', 'fra']);

      // Second line of defence: fra may publish on its own subject, but a body that speaks for
      // ams is dead-lettered by the coordinator (services/coordinator/src/ingest/validate.ts).
      const watcher = await connectAs('coordinator');
      const reasons: string[] = [];
      watcher.subscribe(subjects.deadLetter(), { callback: (_e, msg) => void reasons.push(String((decodeJson(msg.data) as { reason: string }).reason)) });
      await watcher.flush();
      const fra = await connectAs('site-fra');
      const spoof = { kind: 'observation', v: 1, siteId: 'ams', agentId: 'spoofer', incarnation: { id: 'spoofer-run', startedAt: Date.now() }, seq: 1, observedAt: Date.now(), workloads: [] };
      await jetStreamOf(fra).publish(subjects.observation('fra'), encodeJson(spoof));
      await eventually(() => reasons.some((r) => /site "ams" in the message does not match the subject's site "fra"/.test(r)), 20_000);
      for (const p of procs) expect(p.output()).not.toMatch(/Permissions Violation/);

      // The Grafana dashboard's series are on this coordinator's /metrics.
      const exposition = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
      const typed = new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
      const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/drc-dashboard.json'), 'utf8')) as unknown;
      for (const q of dashboardQueries(dashboard)) {
        for (const sel of selectorsOf(q)) expect(typed.has(sel.metric.replace(/_(bucket|sum|count)$/, '')) || typed.has(sel.metric), `${sel.metric} on /metrics`).toBe(true);
      }
    });

    // Scenario 8 of the chaos suite: the node the coordinator is connected to dies (kill -9).
    // With every drc stream and the leadership bucket on all three nodes, the coordinator keeps
    // (or retakes) the lead on the two others and a site lost afterwards still fails over.
    it('scenario 8: one NATS node killed, the coordinator goes on leading and a lost site still fails over', async () => {
      const api = async <T>(path: string): Promise<T> => {
        const res = await fetch(`http://127.0.0.1:${apiPort}${path}`);
        if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
        return (await res.json()) as T;
      };
      const admin = await connectAs('coordinator', 1);
      const jsm = await ensureStreams(admin, subjects);
      for (const name of [subjects.streams.agents, subjects.streams.commands, subjects.streams.deadLetters, 'KV_DRC_LEADER']) {
        expect((await jsm.streams.info(name)).config.num_replicas, `${name} replicas`).toBe(3);
      }
      const connz = await Promise.all(cluster.nodes.map((n) => monitor<{ connections?: Array<{ name?: string }> }>(n.ports, '/connz')));
      const victim = connz.findIndex((c) => (c.connections ?? []).some((x) => x.name === 'deploy-co-1'));
      expect(victim, 'the node the coordinator is connected to').toBeGreaterThanOrEqual(0);
      const epochBefore = (await api<{ leaderEpoch: number }>('/readyz')).leaderEpoch;
      await chaos.jitter(1000);
      const killedAt = Date.now();
      await cluster.nodes[victim]!.process.kill();
      await eventually(async () => (await api<{ sites: Array<{ status: string }> }>('/api/v1/sites')).sites.every((x) => x.status === 'up'), 30_000);
      // The streams' leaders on the dead node are re-elected on the others: wait until agents'
      // observations published after the kill are stored again and consumed by the coordinator
      // (without them the replicas' lag is unknown, and an unknown lag is never promoted).
      const live = await connectAs('coordinator', (victim + 1) % 3);
      await eventually(async () => {
        const jsmLive = await jetstreamManager(live); // asks the account info: fails while the meta leader is re-elected
        const stream = await jsmLive.streams.info(subjects.streams.agents);
        if (Date.parse(stream.state.last_ts) <= killedAt + 1000) return false;
        const consumer = await jsmLive.consumers.info(subjects.streams.agents, 'coordinator');
        return consumer.delivered.stream_seq >= stream.state.last_seq - 3 && consumer.num_pending === 0;
      }, 45_000);

      // The coordinator may have stepped down meanwhile and taken the lead again: a leader that
      // cannot renew its lease within 2/3 of the TTL stops acting (the lease bucket's stream leader
      // is being re-elected), and until it is active again its API answers 503 NOT_LEADER (seed 2103).
      const before = await eventually(() => api<{ primarySite: string; epoch: number }>('/api/v1/workloads/orders-db'), 30_000);
      expect(before.primarySite).toBe('fra');
      await chaos.jitter(1000);
      const lostAt = Date.now();
      await procs.find((p) => p.name === 'agent-fra')!.kill(); // the datacenter goes dark
      const after = await eventually(async () => {
        const w = await api<{ state: string; primarySite: string; epoch: number }>('/api/v1/workloads/orders-db');
        return w.state === 'failedOver' && w;
      }, 60_000).catch(async (e: unknown) => {
        const trail = await api<{ events: Array<{ type: string; data: unknown }> }>('/api/v1/workloads/orders-db/events').catch(() => ({ events: [] }));
        throw new Error(`${String(e)}\norders-db: ${trail.events.map((x) => `${x.type} ${JSON.stringify(x.data).slice(0, 300)}`).join('\n')}`);
      });
      expect(['ams', 'dub']).toContain(after.primarySite);
      expect(after.epoch).toBe(before.epoch + 1);
      const events = await api<{ events: Array<{ type: string; data: Record<string, unknown> }> }>('/api/v1/workloads/orders-db/events');
      const done = events.events.filter((e) => e.type === 'FailoverCompleted');
      expect(done).toHaveLength(1);
      const ready = await eventually(async () => {
        const r = await api<{ role: string; leaderEpoch: number }>('/readyz').catch(() => undefined);
        return r?.role === 'leader' && r;
      }, 30_000);
      console.log(`[scenario 8] NATS node ${cluster.nodes[victim]!.name} (the coordinator's) killed: leadership epoch ${epochBefore} -> ${ready.leaderEpoch}`);
      console.log(`[scenario 8] orders-db failed over to ${after.primarySite} ${Date.now() - lostAt} ms after fra went dark: RTO ${String(done[0]!.data.rtoMs)} ms, data loss ${String(done[0]!.data.dataLossSeconds ?? 'n/a')} s`);
    });
  });
});
