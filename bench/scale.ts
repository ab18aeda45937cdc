/**
 * Coordinator at scale (not a test): 10,000 workloads on 20 sites, simulated agents at 1 Hz
 * (heartbeats with witness views, one observation per site covering its copies, command results
 * answered like the simulator), against a real coordinator process (real NATS JetStream, a
 * fresh PostgreSQL event store). Measures:
 *   - ingestion: observation messages/s the coordinator drains in a burst (and copies/s),
 *   - decision latency: from the observation that reports a primary failed to the fence command
 *     on NATS (debounce 0 here, so the decision itself is what is timed), end to end (the agent's
 *     publish) and inside the coordinator (from taking the report off NATS: the command's issuedAt).
 *     Measured twice: with the failures carried by the sites' regular 1 Hz observations (what
 *     agents send: the issue's measure), and with a burst of extra observations from 19 sites at
 *     once on top of the telemetry (four times the telemetry's rate while it lasts),
 *   - coordinator CPU and peak RSS (from /proc),
 *   - a site holding 2,000 primaries lost: from the first command of its failovers until every
 *     promote is sent, and until every one of them is failedOver.
 * Options: --workloads N (default 10000), --sites N (20), --lost N (2000); SCALE_CPU_PROF=DIR profiles the coordinator,
 * SCALE_NODE_ARGS='--flag …' passes V8/Node flags to it (e.g. --trace-gc-nvp).
 * Writes bench/results/scale.json.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandSchema, createSubjects, type Heartbeat, type Observation } from '@drc/contracts';
import { connectNats, decodeJson, encodeJson, ensureStreams, jetStreamOf } from '@drc/runtime';
import { createTestDatabase, deleteStreams, eventually, freePort, natsUrl, startProcess, uniquePrefix } from '@drc/test-kit';
import { jetstreamManager } from '@nats-io/jetstream';
import { stringify } from 'yaml';
import { percentile, printTable, writeResults } from './_util';

const num = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};

function procStats(pid: number): { cpuMs: number; rssMiB: number; peakRssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime + stime
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { cpuMs: (ticks * 1000) / 100, rssMiB: kb('VmRSS') / 1024, peakRssMiB: kb('VmHWM') / 1024 };
}

export default async function run(): Promise<void> {
  const W = num('workloads', 10_000);
  const S = num('sites', 20);
  const LOST = Math.min(num('lost', 2000), Math.floor(W / 2));
  const sites = Array.from({ length: S }, (_, i) => `s${String(i).padStart(2, '0')}`);
  const lostSite = sites[0]!;
  // The first LOST workloads have their primary at the site that will be lost; the rest spread.
  const workloads = Array.from({ length: W }, (_, i) => {
    const p = i < LOST ? 0 : 1 + (i % (S - 1));
    const r = i < LOST ? 1 + (i % (S - 1)) : p === S - 1 ? 1 : p + 1;
    return { id: `w${i}`, driver: 'sim', primarySite: sites[p]!, replicaSites: [sites[r]!] };
  });
  const prefix = uniquePrefix('scale');
  const subjects = createSubjects(prefix);
  const db = await createTestDatabase('scale');
  const dir = mkdtempSync(join(tmpdir(), 'drc-scale-'));
  const port = await freePort();
  const configFile = join(dir, 'scale.yaml');
  writeFileSync(
    configFile,
    stringify({
      nats: { url: natsUrl(), prefix },
      coordinator: { httpPort: port, siteLeaseTtlMs: 3000, startupGraceMs: 3000, siteLossConcurrency: 512 },
      defaults: { policy: { debounceMs: 0, fenceMarginMs: 500, rpoSeconds: 30, maxDataLossSeconds: 30, cooldownSeconds: 0, autoReprotect: false } },
      sites: sites.map((id) => ({ id })),
      workloads,
    }),
  );
  const nc = await connectNats({ url: natsUrl(), name: 'scale-agents' });
  await ensureStreams(nc, subjects);
  const js = jetStreamOf(nc);
  const hosted = new Map(sites.map((s) => [s, [] as Array<{ id: string; role: 'primary' | 'replica' }>]));
  for (const w of workloads) {
    hosted.get(w.primarySite)!.push({ id: w.id, role: 'primary' });
    hosted.get(w.replicaSites[0]!)!.push({ id: w.id, role: 'replica' });
  }
  const role = new Map<string, 'primary' | 'replica' | 'fenced'>(); // `${site}/${workload}`
  for (const [s, list] of hosted) for (const h of list) role.set(`${s}/${h.id}`, h.role);
  const failing = new Set<string>(); // workloads whose primary reports unhealthy
  const alive = new Set(sites);
  let seq = 0;
  const now = () => Date.now();
  const incarnation = { id: randomUUID(), startedAt: now() }; // one run of every simulated agent

  const heartbeat = (site: string) => {
    const peers = Object.fromEntries(sites.filter((p) => p !== site).map((p) => [p, alive.has(p)]));
    const hb: Heartbeat = { kind: 'heartbeat', v: 1, siteId: site, agentId: `${site}@bench`, incarnation, seq: ++seq, sentAt: now(), leaseTtlMs: 3000, peers };
    nc.publish(subjects.heartbeat(site), encodeJson(hb));
  };
  const observation = (site: string): Observation => ({
    kind: 'observation', v: 1, siteId: site, agentId: `${site}@bench`, incarnation, seq: ++seq, observedAt: now(),
    workloads: hosted.get(site)!.map((h) => {
      const r = role.get(`${site}/${h.id}`)!;
      const bad = r === 'primary' && failing.has(h.id);
      return { workloadId: h.id, role: r, healthy: !bad, ...(bad ? { detail: 'bench: injected failure' } : {}), replication: { position: String(now() - (r === 'replica' ? 200 : 0)), lagSeconds: r === 'replica' ? 0.2 : 0, lagBytes: 0 } };
    }),
  });

  // Commands: answered at once, like the simulator; timings recorded for the measurements.
  const fenceAt = new Map<string, number>();
  const fenceIssuedAt = new Map<string, number>(); // the coordinator's receipt time of the report (the command's issuedAt)
  const promoteAt = new Map<string, number>();
  const sub = nc.subscribe(`${prefix}.v1.cmd.>`, {
    callback: (_e, m) => {
      const c = CommandSchema.safeParse(decodeJson(m.data));
      if (!c.success) return;
      const cmd = c.data;
      const t = now();
      if (cmd.action === 'fence' && !fenceAt.has(cmd.workloadId)) {
        fenceAt.set(cmd.workloadId, t);
        fenceIssuedAt.set(cmd.workloadId, cmd.issuedAt);
      }
      if (cmd.action === 'promote' && !promoteAt.has(cmd.workloadId)) promoteAt.set(cmd.workloadId, t);
      if (!alive.has(cmd.siteId)) return; // a dark site answers nothing
      if (cmd.action === 'fence') role.set(`${cmd.siteId}/${cmd.workloadId}`, 'fenced');
      if (cmd.action === 'promote') role.set(`${cmd.siteId}/${cmd.workloadId}`, 'primary');
      void js.publish(subjects.commandResult(cmd.siteId), encodeJson({ kind: 'commandResult', v: 1, incarnation, commandId: cmd.commandId, workloadId: cmd.workloadId, siteId: cmd.siteId, action: cmd.action, epoch: cmd.epoch, status: 'done', startedAt: t, completedAt: now(), detail: {} }));
    },
  });

  const coordinator = startProcess({
    // SCALE_CPU_PROF=DIR writes a V8 CPU profile of the coordinator there (open it in Chrome DevTools).
    name: 'scale-coordinator', command: process.execPath, args: [...(process.env.SCALE_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SCALE_CPU_PROF}`] : []), ...(process.env.SCALE_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', 'services/coordinator/src/main.ts', '--config', configFile, '--id', 'scale-coordinator'],
    env: { DATABASE_URL: db.url, LOG_LEVEL: 'warn', NATS_URL: natsUrl() }, logFile: join(dir, 'coordinator.log'),
  });
  const pid = coordinator.child.pid!;
  const ticker = setInterval(() => {
    for (const s of alive) heartbeat(s);
  }, 1000);
  const observeAll = async () => {
    for (const s of alive) await js.publish(subjects.observation(s), encodeJson(observation(s)));
  };
  const api = async <T>(path: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${port}${path}`)).json()) as T;
  // Messages not yet handled: not delivered yet, or delivered (the coordinator pulls up to 512 at
  // a time) and not yet acknowledged; a message is acknowledged once its inputs are recorded.
  const pending = async () => {
    const info = await (await jetstreamManager(nc)).consumers.info(subjects.streams.agents, 'coordinator').catch(() => undefined);
    return info ? info.num_pending + info.num_ack_pending : -1;
  };
  let stopTelemetry = async () => {};
  try {
    for (const s of sites) heartbeat(s);
    const startAt = now();
    await coordinator.waitFor(/listening on http/, 300_000);
    const startupMs = now() - startAt;
    console.log(`coordinator up with ${W} workloads in ${startupMs} ms`);
    await observeAll();
    await eventually(async () => (await api<{ workloads: Array<{ state: string }> }>('/api/v1/workloads')).workloads.filter((w) => w.state === 'protected').length === W, 300_000, 1000);
    const steady = procStats(pid);

    // 1 Hz telemetry from every live site from now on, as real agents send it.
    let published = 0;
    const reportedAt = new Map<string, number>(); // workload → when its site's telemetry first reported its primary failed
    let telemetryOn = true;
    // Each site's agent on its own clock, as real agents are: site i publishes at i/S of every
    // second (not all twenty in one burst, which no estate does and which every report would queue behind).
    const telemetry = (async () => {
      const t0 = now();
      for (let tick = 0; telemetryOn; tick++) {
        for (let i = 0; i < S && telemetryOn; i++) {
          const due = t0 + tick * 1000 + Math.floor((i * 1000) / S);
          await new Promise((r) => setTimeout(r, Math.max(0, due - now())));
          const site = sites[i]!;
          if (!alive.has(site)) continue;
          const obs = observation(site);
          const t = now();
          for (const c of obs.workloads) if (!c.healthy && !reportedAt.has(c.workloadId)) reportedAt.set(c.workloadId, t);
          await js.publish(subjects.observation(site), encodeJson(obs));
          published++;
        }
      }
    })();
    stopTelemetry = async () => {
      telemetryOn = false;
      await telemetry;
    };
    const teleStart = now();
    await new Promise((r) => setTimeout(r, 10_000));
    const publishedInWindow = published;
    await eventually(async () => (await pending()) === 0, 60_000, 100);
    const teleMs = now() - teleStart;
    const afterTele = procStats(pid);

    // Burst: as many observations as the coordinator can drain.
    const burst = 200;
    const b0 = now();
    for (let i = 0; i < burst; i++) await js.publish(subjects.observation(sites[1 + (i % (S - 1))]!), encodeJson(observation(sites[1 + (i % (S - 1))]!)));
    await eventually(async () => (await pending()) === 0, 300_000, 50);
    const burstMs = now() - b0;
    const ingestMsgsPerSec = burst / (burstMs / 1000);
    const copiesPerSec = (burst * (2 * W / S)) / (burstMs / 1000);

    // Decision latency at 1 Hz telemetry: primaries fail, 20 at a time on 19 sites, and each site's
    // next regular observation reports it, as an agent's would.
    const collect = (batch: typeof workloads, sentAt: (id: string) => number, into: { total: number[]; inCoordinator: number[] }) => {
      for (const w of batch) {
        into.total.push(fenceAt.get(w.id)! - sentAt(w.id));
        into.inCoordinator.push(fenceAt.get(w.id)! - fenceIssuedAt.get(w.id)!);
      }
    };
    const steadyLat = { total: [] as number[], inCoordinator: [] as number[] };
    const steadyVictims = workloads.slice(LOST, LOST + 200);
    for (let round = 0; round < 10; round++) {
      const batch = steadyVictims.slice(round * 20, round * 20 + 20);
      for (const w of batch) failing.add(w.id);
      await eventually(() => batch.every((w) => fenceAt.has(w.id)), 60_000, 5);
      collect(batch, (id) => reportedAt.get(id)!, steadyLat);
    }

    // Decision latency under a report burst: the same, but each round's failures are reported at
    // once in extra observations from their 19 sites (1,000 copies each), on top of the telemetry.
    const burstLat = { total: [] as number[], inCoordinator: [] as number[] };
    const burstVictims = workloads.slice(LOST + 200, LOST + 400);
    for (let round = 0; round < 10; round++) {
      const batch = burstVictims.slice(round * 20, round * 20 + 20);
      for (const w of batch) failing.add(w.id);
      const sent = new Map<string, number>();
      for (const site of new Set(batch.map((w) => w.primarySite))) {
        const t = now();
        await js.publish(subjects.observation(site), encodeJson(observation(site)));
        for (const w of batch.filter((x) => x.primarySite === site)) sent.set(w.id, t);
      }
      await eventually(() => batch.every((w) => fenceAt.has(w.id)), 60_000, 5);
      collect(batch, (id) => Math.min(sent.get(id)!, reportedAt.get(id) ?? Infinity), burstLat);
    }

    // Site loss: site s00 (LOST primaries) goes dark; its peers stop reaching it.
    alive.delete(lostSite);
    const lossAt = now();
    const lostIds = workloads.slice(0, LOST).map((w) => w.id);
    await eventually(() => lostIds.every((id) => promoteAt.has(id)), Number(process.env.SCALE_LOSS_TIMEOUT ?? 300_000), 20).catch(async (e: unknown) => {
      const sitesNow = await api<{ sites: Array<{ siteId: string; status: string; witnesses: unknown }> }>('/api/v1/sites');
      const stuck = lostIds.find((id) => !promoteAt.has(id))!;
      const ev = await api<{ events: Array<{ type: string; data: unknown }> }>(`/api/v1/workloads/${stuck}/events`);
      console.error('site', JSON.stringify(sitesNow.sites.find((x) => x.siteId === lostSite)), 'stuck', stuck, 'promoted', promoteAt.size, JSON.stringify(ev.events.slice(-8).map((x) => [x.type, JSON.stringify(x.data).slice(0, 160)])));
      throw e;
    });
    const firstCommand = Math.min(...lostIds.map((id) => Math.min(fenceAt.get(id) ?? Infinity, promoteAt.get(id) ?? Infinity)));
    const lastPromote = Math.max(...lostIds.map((id) => promoteAt.get(id)!));
    const lostSet = new Set(lostIds);
    await eventually(async () => (await api<{ workloads: Array<{ workloadId: string; state: string }> }>('/api/v1/workloads')).workloads.filter((w) => lostSet.has(w.workloadId) && w.state === 'failedOver').length === LOST, 300_000, 250);
    const allFailedOver = now();
    const end = procStats(pid);

    const result = {
      workloads: W,
      sites: S,
      startupMs,
      telemetry: { messagesPerSec: publishedInWindow / (teleMs / 1000), seconds: teleMs / 1000 },
      ingestMsgsPerSec,
      ingestCopiesPerSec: copiesPerSec,
      /** Failures reported by the sites' regular 1 Hz observations: agent's publish → fence command on NATS. */
      decisionLatencyMs: { p50: percentile(steadyLat.total, 50), p99: percentile(steadyLat.total, 99), max: Math.max(...steadyLat.total), samples: steadyLat.total.length },
      /** From the coordinator taking the report off NATS (the command's issuedAt) to the command on NATS. */
      coordinatorDecisionLatencyMs: { p50: percentile(steadyLat.inCoordinator, 50), p99: percentile(steadyLat.inCoordinator, 99), max: Math.max(...steadyLat.inCoordinator) },
      /** The same, each round's failures reported at once in extra observations from 19 sites (on top of the telemetry). */
      decisionLatencyBurstMs: {
        p50: percentile(burstLat.total, 50), p99: percentile(burstLat.total, 99), max: Math.max(...burstLat.total), samples: burstLat.total.length,
        inCoordinator: { p50: percentile(burstLat.inCoordinator, 50), p99: percentile(burstLat.inCoordinator, 99) },
      },
      coordinatorCpu: { steadyTelemetryCoresUsed: (afterTele.cpuMs - steady.cpuMs) / teleMs, totalCpuMs: end.cpuMs },
      peakRssMiB: end.peakRssMiB,
      siteLoss: { workloads: LOST, detectedAfterMs: firstCommand - lossAt, allCommandedMs: lastPromote - firstCommand, allFailedOverMs: allFailedOver - firstCommand },
      targets: { decisionLatencyP99Ms: 50, peakRssMiB: 1024, siteLossAllCommandedMs: 5000 },
    };
    printTable(['measure', 'value', 'target'], [
      ['workloads / sites', `${W} / ${S}`, ''],
      ['coordinator startup (rehydrate all)', `${startupMs} ms`, ''],
      ['ingest burst (observation msgs/s)', result.ingestMsgsPerSec, ''],
      ['ingest burst (workload copies/s)', result.ingestCopiesPerSec, ''],
      ['1 Hz telemetry: coordinator cores used', result.coordinatorCpu.steadyTelemetryCoresUsed, ''],
      ['decision latency at 1 Hz telemetry p50 (ms)', result.decisionLatencyMs.p50, ''],
      ['decision latency at 1 Hz telemetry p99 (ms)', result.decisionLatencyMs.p99, '< 50'],
      ['  of which in the coordinator p50 / p99 (ms)', `${result.coordinatorDecisionLatencyMs.p50} / ${result.coordinatorDecisionLatencyMs.p99}`, ''],
      ['decision latency, burst of 19 reports p50 / p99 (ms)', `${result.decisionLatencyBurstMs.p50} / ${result.decisionLatencyBurstMs.p99}`, ''],
      ['  of which in the coordinator p50 / p99 (ms)', `${result.decisionLatencyBurstMs.inCoordinator.p50} / ${result.decisionLatencyBurstMs.inCoordinator.p99}`, ''],
      ['peak RSS (MiB)', result.peakRssMiB, '< 1024'],
      [`site loss (${LOST}): detected after lease (ms)`, result.siteLoss.detectedAfterMs, ''],
      [`site loss (${LOST}): all promotes sent (ms)`, result.siteLoss.allCommandedMs, '< 5000'],
      [`site loss (${LOST}): all failedOver (ms)`, result.siteLoss.allFailedOverMs, ''],
    ]);
    console.log(`wrote ${writeResults('scale', result)}`);
  } finally {
    await stopTelemetry();
    clearInterval(ticker);
    sub.unsubscribe();
    await coordinator.stop();
    await nc.close();
    await deleteStreams(subjects.streams.agents.replace(/_AGENTS$/, '_'));
    await db.drop();
  }
}
