import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandResultSchema, createSubjects, type Command } from '@drc/contracts';
import { connectNats, createLogger } from '@drc/runtime';
import { deleteStreams, natsUrl, uniquePrefix } from '@drc/test-kit';
import { describe, expect, it } from 'vitest';
import { SimDriver } from '../drivers/sim/index';
import { SiteAgent } from './site-agent';
import { AgentStateJournal, STATE_FILE } from './file-journal';

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
