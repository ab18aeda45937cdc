import { CommandResultSchema, createSubjects, type Command, type CommandResult } from '@drc/contracts';
import { connectNats, createLogger, decodeJson, ensureStreams, jetStreamOf, type NatsConnection } from '@drc/runtime';
import { createTcpProxy, deleteStreams, eventually, natsUrl, uniquePrefix, type TcpProxy } from '@drc/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimDriver } from '../drivers/sim/index';
import type { WatchdogBeat } from '../watchdog/watchdog';
import { SiteAgent } from './site-agent';
import { AgentStateJournal, STATE_FILE } from './file-journal';

const logger = createLogger('agent-test').child({}, { level: 'silent' });
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

interface Fixture {
  agent: SiteAgent;
  driver: SimDriver;
  nc: NatsConnection;
  results: CommandResult[];
  proxy?: TcpProxy;
  prefix: string;
}

async function startAgent(opts: { viaProxy?: boolean; leaseTtlMs?: number; journal?: AgentStateJournal; prefix?: string; watchdog?: { beat(b: WatchdogBeat): void } } = {}): Promise<Fixture> {
  const prefix = opts.prefix ?? uniquePrefix('agent');
  const url = new URL(natsUrl().replace('nats://', 'http://'));
  const proxy = opts.viaProxy ? await createTcpProxy({ targetHost: url.hostname, targetPort: Number(url.port || 4222) }) : undefined;
  const nc = await connectNats({ url: proxy ? `nats://127.0.0.1:${proxy.port}` : natsUrl(), name: 'agent-test' });
  const driver = new SimDriver('primary', { lagSeconds: 0, actionDelayMs: 0 });
  const agent = new SiteAgent({ siteId: 'A', agentId: 'agent-A', prefix, nc, workloads: [{ workloadId: 'w', driver }], peerSites: ['B', 'C'], heartbeatMs: 100, leaseTtlMs: opts.leaseTtlMs ?? 600, logger, ...(opts.journal ? { journal: opts.journal } : {}), ...(opts.watchdog ? { watchdog: opts.watchdog } : {}) });
  await agent.start();
  const results: CommandResult[] = [];
  const watcher = await connectNats({ url: natsUrl(), name: 'agent-test-watch' });
  watcher.subscribe(createSubjects(prefix).commandResult('A'), { callback: (_e, m) => void results.push(CommandResultSchema.parse(decodeJson(m.data))) });
  fixtures.push({ close: async () => { await agent.stop(); await nc.close().catch(() => undefined); await watcher.close(); await proxy?.close(); await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_')); } });
  return { agent, driver, nc, results, prefix, ...(proxy ? { proxy } : {}) };
}

const fixtures: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.close();
});

const command = (over: Partial<Command>): Command => ({
  kind: 'command', v: 1, commandId: `c-${Math.random().toString(36).slice(2)}`, workloadId: 'w', siteId: 'A', action: 'fence', epoch: 0,
  issuedAt: Date.now(), deadline: Date.now() + 10_000, coordinatorId: 'test', leaderEpoch: 1, params: {}, ...over,
});

describe('site agent - invariant 2: current orders only, each carried out once', () => {
  it('refuses a command with an older epoch and changes nothing', async () => {
    const { agent, driver } = await startAgent();
    expect((await agent.onCommand(enc(command({ action: 'fence', epoch: 3 }))))?.status).toBe('done');
    const stale = await agent.onCommand(enc(command({ action: 'unfence', epoch: 2 })));
    expect(stale).toMatchObject({ status: 'refused' });
    expect(stale?.reason).toMatch(/stale epoch 2: newest seen for w is 3/);
    expect(driver.role).toBe('fenced');
    expect(driver.actionCounts.unfence ?? 0).toBe(0);
  });

  it('answers a repeated command id with its first result and never runs it twice', async () => {
    const { agent, driver, results } = await startAgent();
    const c = command({ action: 'promote', epoch: 1 });
    const first = await agent.onCommand(enc(c));
    const again = await agent.onCommand(enc(c));
    expect(again).toEqual(first);
    expect(driver.actionCounts.promote).toBe(1);
    await eventually(() => results.length >= 2, 5000);
    expect(results.map((r) => r.commandId)).toEqual([c.commandId, c.commandId]);
  });

  it('remembers epochs and command results across a restart (the journal), and rejects a corrupt journal naming the line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drc-agent-state-'));
    try {
      const first = await startAgent({ journal: AgentStateJournal.open(dir) });
      const promote = command({ action: 'promote', epoch: 4 });
      expect((await first.agent.onCommand(enc(promote)))?.status).toBe('done');
      await first.agent.stop();
      // A crash mid-write leaves a torn last line: ignored, it was never acted upon.
      appendFileSync(join(dir, STATE_FILE), '{"t":"epoch","worklo');

      const second = await startAgent({ journal: AgentStateJournal.open(dir), prefix: first.prefix });
      const again = await second.agent.onCommand(enc(promote));
      expect(again?.status).toBe('done');
      expect(second.driver.actionCounts.promote ?? 0).toBe(0); // answered from memory, not run again
      const stale = await second.agent.onCommand(enc(command({ action: 'demote', epoch: 3 })));
      expect(stale?.reason).toMatch(/stale epoch 3: newest seen for w is 4/);
      expect(second.driver.actionCounts.demote ?? 0).toBe(0);

      writeFileSync(join(dir, STATE_FILE), 'garbage\n{"t":"epoch","workloadId":"w","epoch":1}\n');
      expect(() => AgentStateJournal.open(dir)).toThrow(/agent-state.jsonl:1: not an agent state record/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses commands past their deadline, for unknown workloads or other sites, and ignores garbage', async () => {
    const { agent, driver } = await startAgent();
    expect((await agent.onCommand(enc(command({ deadline: Date.now() - 1 }))))?.reason).toMatch(/deadline passed/);
    expect((await agent.onCommand(enc(command({ workloadId: 'nope' }))))?.reason).toMatch(/unknown workload nope/);
    expect((await agent.onCommand(enc(command({ siteId: 'B' }))))?.reason).toMatch(/reached site A/);
    expect(await agent.onCommand(new TextEncoder().encode('{"kind":"command"'))).toBeUndefined();
    expect(driver.role).toBe('primary');
    expect(driver.actionCounts.fence ?? 0).toBe(0);
  });
});

describe('site agent - invariant 1: an agent cut off from NATS and its peers fences its own primary', () => {
  it('fences its primary once its lease lapses after its link to NATS is cut', async () => {
    const { agent, driver, proxy } = await startAgent({ viaProxy: true, leaseTtlMs: 600 });
    await new Promise((r) => setTimeout(r, 400));
    expect(driver.role).toBe('primary');
    proxy!.cut();
    // The agent decides once its lease has lapsed unrenewed (no timing is asserted here; the
    // wait below is only the test's patience).
    await eventually(() => driver.role === 'fenced', 10_000, 20);
    expect(agent.hasSelfFenced).toBe(true);
    expect(Date.now() - agent.leaseRenewedAt).toBeGreaterThanOrEqual(600);
  });

  it('does not fence while it keeps its lease, with no coordinator running at all', async () => {
    const { driver } = await startAgent({ leaseTtlMs: 600 });
    await new Promise((r) => setTimeout(r, 2000));
    expect(driver.role).toBe('primary');
    expect(driver.actionCounts.fence ?? 0).toBe(0);
  });
});

describe('site agent - a result is never lost to a NATS outage', () => {
  it('keeps a result it could not publish and sends it once NATS is back, without running the command again', async () => {
    // A long lease: this test is about the result, not self-fencing.
    const { agent, driver, proxy, results } = await startAgent({ viaProxy: true, leaseTtlMs: 60_000 });
    proxy!.cut();
    const c = command({ action: 'fence', epoch: 1, deadline: Date.now() + 60_000 });
    // The command reached the agent just before the link went down; its result cannot go out now.
    expect((await agent.onCommand(enc(c)))?.status).toBe('done');
    await new Promise((r) => setTimeout(r, 1000));
    expect(results).toEqual([]);
    proxy!.restore();
    await eventually(() => results.some((r) => r.commandId === c.commandId), 30_000, 50);
    expect(results.filter((r) => r.commandId === c.commandId)[0]).toMatchObject({ status: 'done', epoch: 1 });
    expect(driver.actionCounts.fence).toBe(1);
  });
});

describe('site agent - a hung health check is a failed one', () => {
  it('reports a workload whose probe never answers as unhealthy, within the heartbeat', async () => {
    const prefix = uniquePrefix('agenthang');
    const subjects = createSubjects(prefix);
    const nc = await connectNats({ url: natsUrl(), name: 'agent-hang' });
    const watcher = await connectNats({ url: natsUrl(), name: 'agent-hang-watch' });
    // A driver whose health probe hangs forever (a stand-in for a server that accepts connections and never answers).
    const hung = { type: 'sim' as const, capabilities: new Set<never>(), probe: () => new Promise<never>(() => {}), execute: () => Promise.reject(new Error('unused')), close: async () => {} };
    const seen: Array<{ workloads: Array<{ workloadId: string; healthy: boolean; role: string; detail?: string }> }> = [];
    watcher.subscribe(subjects.observation('A'), { callback: (_e, m) => void seen.push(decodeJson(m.data) as (typeof seen)[number]) });
    await watcher.flush();
    const agent = new SiteAgent({ siteId: 'A', agentId: 'agent-A', prefix, nc, workloads: [{ workloadId: 'w', driver: hung }], peerSites: ['B'], heartbeatMs: 100, leaseTtlMs: 5000, logger, probeTimeoutMs: 150 });
    try {
      await agent.start();
      const obs = await eventually(() => seen.find((o) => o.workloads[0]?.detail?.includes('timed out')), 5000);
      expect(obs.workloads[0]).toMatchObject({ workloadId: 'w', healthy: false, role: 'unknown', detail: 'health probe timed out after 150 ms' });
    } finally {
      await agent.stop();
      await nc.close();
      await watcher.close();
      await deleteStreams(subjects.streams.agents.replace(/_AGENTS$/, '_'));
    }
  });
});

describe('site agent - its watchdog hears of every heartbeat round', () => {
  it('tells its watchdog it is alive when a round starts, before the NATS flush (which may be slow), then the renewed lease', async () => {
    const lines: WatchdogBeat[] = [];
    await startAgent({ watchdog: { beat: (b) => void lines.push(structuredClone(b)) } });
    await eventually(() => lines.length >= 4, 5000);
    // The first round: a liveness line without a lease, then the renewal with its deadline.
    expect(lines[0], JSON.stringify(lines.slice(0, 4))).not.toHaveProperty('leaseDeadline');
    expect(lines[1]?.leaseDeadline, JSON.stringify(lines.slice(0, 4))).toEqual(expect.any(Number));
  });
});

describe('site agent - its command consumer starts at new commands (the NATS bus shell)', () => {
  it('a new agent never runs a command published before its consumer existed, and runs one published after', async () => {
    const prefix = uniquePrefix('agentnew');
    const subjects = createSubjects(prefix);
    const nc = await connectNats({ url: natsUrl(), name: 'agent-new-consumer' });
    const publisher = await connectNats({ url: natsUrl(), name: 'agent-new-consumer-pub' });
    const driver = new SimDriver('primary', { lagSeconds: 0, actionDelayMs: 0 });
    const agent = new SiteAgent({ siteId: 'A', agentId: 'agent-A', prefix, nc, workloads: [{ workloadId: 'w', driver }], peerSites: [], heartbeatMs: 100, leaseTtlMs: 60_000, logger });
    try {
      await ensureStreams(publisher, subjects);
      const js = jetStreamOf(publisher);
      const old = command({ commandId: 'old-fence', action: 'fence', epoch: 1 });
      await js.publish(subjects.commands('A'), enc(old));
      await agent.start();
      const results: CommandResult[] = [];
      publisher.subscribe(subjects.commandResult('A'), { callback: (_e, m) => void results.push(CommandResultSchema.parse(decodeJson(m.data))) });
      await publisher.flush();
      const fresh = command({ commandId: 'new-promote', action: 'promote', epoch: 2 });
      await js.publish(subjects.commands('A'), enc(fresh));
      await eventually(() => results.some((r) => r.commandId === 'new-promote'), 10_000, 20);
      expect(results.map((r) => r.commandId)).toEqual(['new-promote']);
      expect(driver.actionCounts.fence ?? 0).toBe(0);
      expect(driver.actionCounts.promote).toBe(1);
    } finally {
      await agent.stop();
      await nc.close();
      await publisher.close();
      await deleteStreams(subjects.streams.agents.replace(/_AGENTS$/, '_'));
    }
  });
});
