import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandResultSchema, createSubjects, type Command } from '@drc/contracts';
import { connectNats, createLogger } from '@drc/runtime';
import { deleteStreams, eventually, natsUrl, uniquePrefix } from '@drc/test-kit';
import { describe, expect, it } from 'vitest';
import { SimDriver } from '../drivers/sim/index';
import { SiteAgent } from './site-agent';
import { AgentStateJournal, LEASE_FILE, STATE_FILE } from './file-journal';

const logger = createLogger('agent-state-test').child({}, { level: 'silent' });

describe('agent journal - an incarnation belongs to a process, never to the journal', () => {
  it('a journal written before agents had incarnations still opens, and a remembered result is sent again under the current run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drc-agent-journal-'));
    const prefix = uniquePrefix('agentjournal');
    const nc = await connectNats({ url: natsUrl(), name: 'agent-journal-test' });
    const agents: SiteAgent[] = [];
    try {
      const old = { kind: 'commandResult', v: 1, commandId: 'c-old', workloadId: 'w', siteId: 'A', action: 'fence', epoch: 2, status: 'done', startedAt: 1, completedAt: 2, detail: {} };
      writeFileSync(join(dir, STATE_FILE), `${JSON.stringify({ t: 'epoch', workloadId: 'w', epoch: 2 })}\n${JSON.stringify({ t: 'result', result: old })}\n`);
      const start = async () => {
        const agent = new SiteAgent({ siteId: 'A', agentId: 'A@host', prefix, nc, workloads: [{ workloadId: 'w', driver: new SimDriver('primary', { lagSeconds: 0, actionDelayMs: 0 }) }], peerSites: [], heartbeatMs: 100, leaseTtlMs: 600, logger, journal: AgentStateJournal.open(dir) });
        agents.push(agent);
        await agent.start();
        return agent;
      };
      const first = await start();
      const command: Command = { kind: 'command', v: 1, commandId: 'c-old', workloadId: 'w', siteId: 'A', action: 'fence', epoch: 2, issuedAt: Date.now(), deadline: Date.now() + 10_000, coordinatorId: 'test', leaderEpoch: 1, params: {} };
      const again = await first.onCommand(new TextEncoder().encode(JSON.stringify(command)));
      expect(again).toMatchObject({ commandId: 'c-old', status: 'done', incarnation: first.incarnation });
      expect(CommandResultSchema.safeParse(again).success).toBe(true);

      // The journal now holds results with an incarnation; the next process opens it and is a new run.
      await first.stop();
      const second = await start();
      expect(second.incarnation.id).not.toBe(first.incarnation.id);
      expect(second.incarnation.startedAt).toBeGreaterThanOrEqual(first.incarnation.startedAt);
      expect(await second.onCommand(new TextEncoder().encode(JSON.stringify(command)))).toMatchObject({ status: 'done', incarnation: second.incarnation });
    } finally {
      for (const a of agents) await a.stop();
      await nc.close();
      await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_'));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('agent journal - the last lease renewal survives a restart (a hint beside the journal)', () => {
  it('a running agent keeps its newest renewal in the state dir; the next open reads it; an unreadable one is no renewal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drc-agent-lease-'));
    const prefix = uniquePrefix('agentlease');
    const nc = await connectNats({ url: natsUrl(), name: 'agent-lease-test' });
    const journal = AgentStateJournal.open(dir);
    expect(journal.state.leaseRenewedAt).toBeUndefined();
    const agent = new SiteAgent({ siteId: 'A', agentId: 'A@host', prefix, nc, workloads: [{ workloadId: 'w', driver: new SimDriver('primary', { lagSeconds: 0, actionDelayMs: 0 }) }], peerSites: [], heartbeatMs: 100, leaseTtlMs: 600, logger, journal });
    try {
      // Read beside the running agent without opening a second journal (an open compacts the file).
      const hint = () => {
        try {
          return (JSON.parse(readFileSync(join(dir, LEASE_FILE), 'utf8')) as { leaseRenewedAt: number }).leaseRenewedAt;
        } catch {
          return undefined;
        }
      };
      await agent.start();
      await eventually(() => hint() === agent.leaseRenewedAt, 5000, 20);
      await agent.stop();
      const last = agent.leaseRenewedAt;
      await eventually(() => hint() === last, 5000, 20);
      journal.close();
      expect(AgentStateJournal.open(dir).state.leaseRenewedAt).toBe(last);
      expect(last).toBeGreaterThan(Date.now() - 5000);

      writeFileSync(join(dir, LEASE_FILE), '{"leaseRenewedAt":');
      expect(AgentStateJournal.open(dir).state.leaseRenewedAt).toBeUndefined();
    } finally {
      await agent.stop();
      journal.close();
      await nc.close();
      await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_'));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
