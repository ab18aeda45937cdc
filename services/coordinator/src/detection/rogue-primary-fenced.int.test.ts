import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { workloadStream } from '@drc/contracts';
import { eventually } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlayedEstate, type PlayedEstate } from './played-agents.fixture';

/*
 * Invariant 1 holds all the time, not only during a move (issue 17 item 5): a copy that reports a
 * writable role and is not the workload's primary at the current epoch is fenced at once, at the
 * current epoch, recorded with its evidence and alarmed (event, metric, notification), whatever
 * autoReprotect says. Seen on main: (a) with autoReprotect off, an old primary that went down and
 * came back in place was writable next to the new primary, and nothing fenced it; (b) a replica
 * site that came back reporting primary left the workload `protected` with two primaries.
 */

async function webhookSink(): Promise<{ server: Server; url: string; bodies: Array<Record<string, unknown>> }> {
  const bodies: Array<Record<string, unknown>> = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(raw) as Record<string, unknown>);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

async function roguePrimaryEvents(e: PlayedEstate) {
  return (await e.t.store.readStream(workloadStream('w1'))).filter((x) => x.type === 'RoguePrimaryDetected').map((x) => x.data as { siteId: string; epoch: number; evidence: string[] });
}

describe('invariant 1 - an old primary that comes back writable after a failover is fenced at once (autoReprotect off)', () => {
  let e: PlayedEstate;
  let sink: Awaited<ReturnType<typeof webhookSink>>;
  beforeAll(async () => {
    sink = await webhookSink();
    e = await startPlayedEstate('rogue-old', { autoReprotect: false }, { notifications: { webhooks: [{ url: sink.url }] } });
  });
  afterAll(async () => {
    await e?.stop();
    sink?.server.close();
  });

  it('the old site reporting role primary at a later epoch gets a fence at the current epoch, RoguePrimaryDetected, a metric and a notification', async () => {
    const { coordinator } = e.t;
    await eventually(() => coordinator.workloadView('w1')?.state === 'protected' && coordinator.siteViews().every((s) => s.status === 'up'), 10_000);

    // Site A goes dark with its primary still writable (a crash: its agent never hears a fence).
    e.setUp('A', false);
    await eventually(() => coordinator.workloadView('w1')?.state === 'failedOver', 20_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: ${await e.explain()}`);
    });
    const after = coordinator.workloadView('w1')!;
    expect(after).toMatchObject({ primarySite: 'B' });
    const epoch = after.epoch;
    expect(e.commands.filter((c) => c.siteId === 'A')).toEqual([]); // nothing reached the dark site

    // A comes back in place, still the primary it was, and says so.
    e.setUp('A', true);
    const fence = await eventually(() => e.commands.find((c) => c.siteId === 'A' && c.action === 'fence'), 10_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: ${await e.explain()}`);
    });
    expect(fence.epoch).toBe(epoch);
    expect(coordinator.workloadView('w1')?.epoch).toBe(epoch);

    const detected = await eventually(async () => (await roguePrimaryEvents(e)).at(0), 5_000);
    expect(detected).toMatchObject({ siteId: 'A', epoch });
    expect(detected.evidence.join(' ')).toMatch(/A.*primary/);
    // The fence's result is recorded; the move that was completed is left as it is.
    await eventually(async () => (await e.streamTypes()).includes('CommandResultReceived') && coordinator.workloadView('w1')?.replicas.find((r) => r.siteId === 'A')?.role === 'fenced', 10_000);
    expect(coordinator.workloadView('w1')).toMatchObject({ state: 'failedOver', primarySite: 'B', epoch });

    const metrics = await coordinator.metrics.registry.getSingleMetricAsString('drc_rogue_primaries_total');
    expect(metrics).toMatch(/drc_rogue_primaries_total\{workload="w1",site="A"\} 1/);
    await coordinator.notifier.flush();
    expect(sink.bodies.find((b) => b.event === 'primary.rogue')).toMatchObject({ workloadId: 'w1', siteId: 'A', epoch });
  });
});

describe('invariant 1 - a replica site that reports itself primary while the workload is protected is fenced at once', () => {
  let e: PlayedEstate;
  beforeAll(async () => {
    e = await startPlayedEstate('rogue-replica', {});
  });
  afterAll(async () => {
    await e?.stop();
  });

  it('B, a replica, reports role primary (copies came back in their configured roles): a fence at epoch 0 to B, recorded, and A stays the primary', async () => {
    const { coordinator } = e.t;
    await eventually(() => coordinator.workloadView('w1')?.state === 'protected' && coordinator.siteViews().every((s) => s.status === 'up'), 10_000);
    e.roles.set('B', 'primary');
    const fence = await eventually(() => e.commands.find((c) => c.siteId === 'B' && c.action === 'fence'), 10_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: ${await e.explain()}`);
    });
    expect(fence.epoch).toBe(0);
    expect(await eventually(async () => (await roguePrimaryEvents(e)).at(0), 5_000)).toMatchObject({ siteId: 'B', epoch: 0 });
    await eventually(() => coordinator.workloadView('w1')?.replicas.find((r) => r.siteId === 'B')?.role === 'fenced', 10_000);
    expect(coordinator.workloadView('w1')).toMatchObject({ primarySite: 'A', epoch: 0 });
    expect(e.commands.filter((c) => c.siteId === 'A')).toEqual([]);
  });
});
