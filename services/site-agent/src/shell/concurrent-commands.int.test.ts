import { CommandResultSchema, createSubjects, type Command, type CommandResult } from '@drc/contracts';
import { connectNats, createLogger, decodeJson, encodeJson, jetStreamOf, type NatsConnection } from '@drc/runtime';
import { deleteStreams, eventually, natsUrl, uniquePrefix } from '@drc/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExecDriver } from '../drivers/exec/index';
import { SimDriver } from '../drivers/sim/index';
import { SiteAgent } from './site-agent';

/**
 * Issue 17 item 6: an agent ran its commands one at a time, so a 90 s exec fence of one workload
 * made another workload's fence at the same site arrive 64 s past its deadline. Commands of
 * different workloads run side by side; those of one workload still run one after the other,
 * in the order they were sent. Commands go through the real NATS consumer, results come back
 * on the site's result subject, the slow step is a real process.
 */
const logger = createLogger('agent-concurrency-test').child({}, { level: 'silent' });
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function startSite(slowStep: string) {
  const prefix = uniquePrefix('agentconc');
  const subjects = createSubjects(prefix);
  const dir = mkdtempSync(join(tmpdir(), 'drc-agent-conc-'));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const nc: NatsConnection = await connectNats({ url: natsUrl(), name: 'agent-conc' });
  const watcher: NatsConnection = await connectNats({ url: natsUrl(), name: 'agent-conc-watch' });
  cleanup.push(async () => {
    await nc.close();
    await watcher.close();
    await deleteStreams(subjects.streams.agents.replace(/_AGENTS$/, '_'));
  });
  const log = join(dir, 'steps.log');
  // Workload "slow": an exec driver whose fence and unfence are real processes writing when they
  // start and end (the fence sleeps); workload "quick": a simulated copy answering at once.
  const slow = await createExecDriver({
    workloadId: 'slow', siteId: 'A', configuredRole: 'primary', peers: [], logger,
    settings: {
      actions: {
        fence: { command: `echo "start $DRC_COMMAND_ID" >> ${log}; ${slowStep}; echo "end $DRC_COMMAND_ID" >> ${log}` },
        unfence: { command: `echo "start $DRC_COMMAND_ID" >> ${log}; echo "end $DRC_COMMAND_ID" >> ${log}` },
      },
    },
  });
  const quick = new SimDriver('primary', { lagSeconds: 0, actionDelayMs: 0 });
  const agent = new SiteAgent({ siteId: 'A', agentId: 'agent-A', prefix, nc, workloads: [{ workloadId: 'slow', driver: slow }, { workloadId: 'quick', driver: quick }], peerSites: ['B'], heartbeatMs: 200, leaseTtlMs: 60_000, logger });
  await agent.start();
  cleanup.push(() => agent.stop());
  const results: CommandResult[] = [];
  watcher.subscribe(subjects.commandResult('A'), { callback: (_e, m) => void results.push(CommandResultSchema.parse(decodeJson(m.data))) });
  await watcher.flush();
  const js = jetStreamOf(watcher);
  let n = 0;
  const send = async (workloadId: string, action: Command['action']): Promise<string> => {
    const cmd: Command = {
      kind: 'command', v: 1, commandId: `${workloadId}:1:${++n}:${action}:A:1`, workloadId, siteId: 'A', action, epoch: 1,
      issuedAt: Date.now(), deadline: Date.now() + 60_000, coordinatorId: 'test', leaderEpoch: 1, params: {},
    };
    await js.publish(subjects.commands('A'), encodeJson(cmd));
    return cmd.commandId;
  };
  const steps = () => readFileSync(log, 'utf8').trim().split('\n');
  return { send, results, steps, quick };
}

describe('site agent - one slow command does not stall the site', () => {
  it("a slow fence of one workload does not hold up another workload's command", async () => {
    const site = await startSite('sleep 5');
    const slowFence = await site.send('slow', 'fence');
    // The slow fence is running before the other command is even sent.
    await eventually(() => site.steps().includes(`start ${slowFence}`), 10_000, 20);
    const quickFence = await site.send('quick', 'fence');
    await eventually(() => site.results.some((r) => r.commandId === slowFence), 30_000, 50);
    const order = site.results.map((r) => r.commandId);
    expect(order.indexOf(quickFence), `results in arrival order: ${order.join(', ')}`).toBeGreaterThanOrEqual(0);
    expect(order.indexOf(quickFence), `results in arrival order: ${order.join(', ')}`).toBeLessThan(order.indexOf(slowFence));
    // The quick fence was carried out while the slow one was still running.
    const quick = site.results.find((r) => r.commandId === quickFence)!;
    const slow = site.results.find((r) => r.commandId === slowFence)!;
    expect(quick.status).toBe('done');
    expect(slow.status).toBe('done');
    expect(quick.completedAt).toBeLessThan(slow.completedAt);
    expect(site.quick.role).toBe('fenced');
  });

  it('commands of one workload still run one after the other, in the order they were sent', async () => {
    const site = await startSite('sleep 1');
    const fence = await site.send('slow', 'fence');
    const unfence = await site.send('slow', 'unfence');
    await eventually(() => site.results.some((r) => r.commandId === unfence), 30_000, 50);
    expect(site.steps()).toEqual([`start ${fence}`, `end ${fence}`, `start ${unfence}`, `end ${unfence}`]);
    expect(site.results.map((r) => [r.commandId, r.status])).toEqual([[fence, 'done'], [unfence, 'done']]);
  });
});
