import { chaosRandom, createTcpProxy, eventually, freePort, natsUrl, type TcpProxy } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportFailover, startEstate, type Estate } from './harness';

const chaos = chaosRandom('witness cut');

/**
 * Issue 5: a site cut off from the coordinator only is not a lost site.
 *
 * Every agent reaches NATS through its own TCP proxy, and probes each other agent's witness
 * endpoint through a proxy of its own per link (A→B is not B→A), so the test can cut exactly
 * the links a real network partition would. Real processes throughout: nats-server,
 * PostgreSQL, one coordinator, three agents with simulated workloads.
 */
const SITES = ['fra', 'ams', 'dub'] as const;
const LEASE_MS = 2000;

describe('witness cuts: coordinator-only partition vs a dark site', () => {
  let estate: Estate;
  const natsProxy = new Map<string, TcpProxy>();
  /** `${from}->${to}`: the link `from` uses to probe `to`. */
  const link = new Map<string, TcpProxy>();
  const witnessPort = new Map<string, number>();

  const cutSite = (site: string, fromNats: boolean, fromPeers: boolean) => {
    if (fromNats) natsProxy.get(site)!.cut();
    if (fromPeers) for (const [k, p] of link) if (k.startsWith(`${site}->`) || k.endsWith(`->${site}`)) p.cut();
  };
  const restoreAll = () => {
    for (const p of [...natsProxy.values(), ...link.values()]) p.restore();
  };

  beforeAll(async () => {
    const nats = new URL(natsUrl());
    for (const s of SITES) {
      natsProxy.set(s, await createTcpProxy({ targetHost: nats.hostname, targetPort: Number(nats.port || 4222) }));
      witnessPort.set(s, await freePort());
    }
    for (const from of SITES) for (const to of SITES) if (from !== to) link.set(`${from}->${to}`, await createTcpProxy({ targetPort: witnessPort.get(to)! }));
    estate = await startEstate(
      {
        coordinator: { siteLeaseTtlMs: LEASE_MS, startupGraceMs: 2000 },
        defaults: { policy: { debounceMs: 500, fenceMarginMs: 300, rpoSeconds: 10, maxDataLossSeconds: 10 } },
        sites: SITES.map((id, i) => ({ id, priority: i + 1 })),
        workloads: [
          { id: 'ledger', driver: 'sim', primarySite: 'ams', replicaSites: ['fra', 'dub'] },
          { id: 'crm', driver: 'sim', primarySite: 'ams', replicaSites: ['dub'] },
          { id: 'wiki', driver: 'sim', primarySite: 'fra', replicaSites: ['ams'] },
        ],
      },
      'witness',
      {
        agentArgs: (site) => [
          '--nats', `nats://127.0.0.1:${natsProxy.get(site)!.port}`,
          '--heartbeat-ms', '500',
          '--lease-ttl-ms', String(LEASE_MS),
          '--witness-listen', `127.0.0.1:${witnessPort.get(site)!}`,
          ...SITES.filter((p) => p !== site).flatMap((p) => ['--witness-peer', `${p}=http://127.0.0.1:${link.get(`${site}->${p}`)!.port}`]),
        ],
      },
    );
    await eventually(async () => (await estate.sites()).every((s) => s.status === 'up'), 30_000);
  });

  afterAll(async () => {
    await estate?.stop();
    for (const p of [...natsProxy.values(), ...link.values()]) await p.close();
  });

  it('cut from the coordinator only (peers still reach it): nothing moves and the site fences nothing', async () => {
    const before = await estate.events('ledger');
    await chaos.jitter(1000);
    cutSite('ams', true, false);
    // The coordinator stops hearing ams; fra and dub still reach it directly and say so.
    const ams = await eventually(async () => {
      const s = (await estate.sites()).find((x) => x.siteId === 'ams');
      return s?.status === 'suspect' ? s : undefined;
    }, 20_000);
    expect(ams.witnesses).toMatchObject({ fra: true, dub: true });
    // Well past lease expiry plus debounce, it is still only suspect and nothing has moved.
    await new Promise((r) => setTimeout(r, 4 * LEASE_MS));
    const sites = await estate.sites();
    expect(sites.find((s) => s.siteId === 'ams')?.status).toBe('suspect');
    for (const id of ['ledger', 'crm']) {
      const w = await estate.workload(id);
      expect(w.primarySite, `${id} moved while ams was only cut from the coordinator`).toBe('ams');
      expect(w.epoch).toBe(0);
      expect((await estate.events(id)).map((e) => e.type)).not.toContain('FailoverStarted');
    }
    expect((await estate.events('ledger')).length).toBeGreaterThanOrEqual(before.length);
    // The cut-off agent's own lease lapsed, but it reaches a majority directly: no self-fence.
    expect(estate.agents.get('ams')!.output()).not.toMatch(/fencing our primary/);

    restoreAll();
    await eventually(async () => (await estate.sites()).every((s) => s.status === 'up'), 30_000);
    expect((await estate.workload('ledger')).state).toBe('protected');
  });

  it('cut from everything: its workloads move after the lease expires, and it fences its own primaries', async () => {
    cutSite('ams', true, true);
    const ledger = await eventually(async () => {
      const w = await estate.workload('ledger');
      return w.state === 'failedOver' ? w : undefined;
    }, 45_000);
    expect(['fra', 'dub']).toContain(ledger.primarySite);
    expect(ledger.epoch).toBe(1);
    const crm = await eventually(async () => {
      const w = await estate.workload('crm');
      return w.state === 'failedOver' ? w : undefined;
    }, 30_000);
    expect(crm.primarySite).toBe('dub');
    await reportFailover(estate, 'ledger', 'site cut from everything');
    const ams = (await estate.sites()).find((s) => s.siteId === 'ams');
    expect(ams?.status).toBe('lost');
    expect(ams?.witnesses).toMatchObject({ fra: false, dub: false });
    // The lost-site evidence names the witnesses that could not reach it.
    const started = (await estate.events('ledger')).find((e) => e.type === 'FailoverStarted');
    expect(JSON.stringify(started?.data)).toMatch(/witness (fra|dub) cannot reach ams/);
    // The dark side fenced itself: no second primary survives at ams.
    await estate.agents.get('ams')!.waitFor(/fencing our primary/, 20_000);
    // A workload whose primary was elsewhere did not move.
    expect((await estate.workload('wiki')).primarySite).toBe('fra');
  });
});
