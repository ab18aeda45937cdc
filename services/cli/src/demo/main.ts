/**
 * `npm run demo [-- --exit-when-settled] [--fail SITE] [--timeout-s N]`
 *
 * Starts a coordinator and one site agent per site of examples/three-sites.yaml as separate
 * processes, shows a live status table, fails one site (its agent is killed: the datacenter
 * goes dark), and shows its workloads move to the other sites.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createSubjects, parseDrcConfig, type WorkloadView } from '@drc/contracts';
import { connectNats } from '@drc/runtime';
import { jetstreamManager } from '@nats-io/jetstream';
import postgres from 'postgres';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { createApiClient } from '../api-client';
import { renderSites, renderWorkloads } from '../commands/status';
import { colour } from '../output';
import { hostPort, reachable } from './preflight';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));

const HELP = `npm run demo [-- options]

Runs a three-site drc estate on this machine and fails one site so you can watch its
workloads move. Needs NATS with JetStream (NATS_URL, default nats://127.0.0.1:4222); the event
store is PostgreSQL (DATABASE_URL, default the local server on 127.0.0.1:5432, a fresh
database drc_demo) or, when none is reachable, an embedded PGlite store.

  --exit-when-settled   exit 0 once every workload of the failed site runs elsewhere
                        (non-zero if that has not happened within --timeout-s)
  --fail SITE           the site to fail (default: the first site)
  --fail-after-s N      seconds of normal operation before the failure (default 5)
  --timeout-s N         give up after N seconds (default 60)
  --config FILE         another estate (default examples/three-sites.yaml)
  -h, --help            this text
`;

interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** Removes the JetStream streams this run created (its prefix is unique). */
async function deleteDemoStreams(url: string, prefix: string): Promise<void> {
  const nc = await connectNats({ url, name: 'drc-demo-cleanup', reconnect: false });
  try {
    const jsm = await jetstreamManager(nc);
    for (const name of Object.values(createSubjects(prefix).streams)) await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}

async function main(): Promise<number> {
  const { values: args } = parseArgs({
    options: {
      'exit-when-settled': { type: 'boolean' },
      fail: { type: 'string' },
      'fail-after-s': { type: 'string', default: '5' },
      'timeout-s': { type: 'string', default: '60' },
      config: { type: 'string', default: join(repo, 'examples/three-sites.yaml') },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const timeoutMs = Number(args['timeout-s']) * 1000;
  const failAfterMs = Number(args['fail-after-s']) * 1000;
  const deadline = Date.now() + timeoutMs;
  const say = (s: string) => process.stdout.write(`${colour('magenta', '[demo]')} ${s}\n`);

  // -- preflight: say what is missing, where we looked, and how to start it
  const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const nats = hostPort(natsUrl, 4222);
  if (!(await reachable(nats.host, nats.port))) {
    process.stderr.write(
      `NATS is not reachable at ${natsUrl}.\n` +
        `Start one with JetStream:  nats-server -js -a 127.0.0.1 -p 4222   (Debian: apt-get install nats-server)\n` +
        `or point NATS_URL at yours.\n`,
    );
    return 1;
  }
  const pgUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const pg = hostPort(pgUrl, 5432);
  const work = mkdtempSync(join(tmpdir(), 'drc-demo-'));
  let storeEnv: Record<string, string> = {};
  let storeLabel: string;
  if (await reachable(pg.host, pg.port)) {
    if (process.env.DATABASE_URL) {
      storeEnv = { DATABASE_URL: pgUrl };
      storeLabel = `PostgreSQL ${pg.host}:${pg.port} (DATABASE_URL)`;
    } else {
      const name = 'drc_demo';
      const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.unsafe(`CREATE DATABASE ${name}`);
      } catch (e) {
        process.stderr.write(`PostgreSQL at ${pg.host}:${pg.port} refused to create database ${name}: ${(e as Error).message}\nSet DATABASE_URL to a database you own.\n`);
        return 1;
      } finally {
        await admin.end();
      }
      const u = new URL(pgUrl);
      u.pathname = `/${name}`;
      storeEnv = { DATABASE_URL: u.toString() };
      storeLabel = `PostgreSQL ${pg.host}:${pg.port}, database ${name} (fresh for this run)`;
    }
  } else {
    storeEnv = { DRC_DATA_DIR: join(work, 'eventstore') };
    storeLabel = `embedded PGlite in ${join(work, 'eventstore')} (no PostgreSQL at ${pg.host}:${pg.port}; start one or set DATABASE_URL to use it)`;
  }

  // -- an isolated estate: own subject prefix (own JetStream streams) and a free HTTP port
  const doc = parseYaml(readFileSync(args.config, 'utf8')) as Record<string, unknown>;
  const prefix = `drc_demo_${randomBytes(3).toString('hex')}`;
  const port = 18080 + Math.floor(Math.random() * 1000);
  doc.nats = { url: natsUrl, prefix };
  doc.coordinator = { ...(doc.coordinator as object), httpPort: port };
  const parsed = parseDrcConfig(doc);
  if (!parsed.ok) {
    process.stderr.write(`${args.config} is invalid:\n${parsed.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}\n`);
    return 2;
  }
  const cfg = parsed.value;
  const configFile = join(work, 'estate.yaml');
  writeFileSync(configFile, toYaml(doc));
  const failSite = args.fail ?? cfg.sites[0]!.id;
  if (!cfg.sites.some((s) => s.id === failSite)) {
    process.stderr.write(`--fail: unknown site "${failSite}" (sites: ${cfg.sites.map((s) => s.id).join(', ')})\n`);
    return 2;
  }

  say(`event store: ${storeLabel}`);
  say(`NATS: ${natsUrl} (subject prefix ${prefix}); logs in ${work}`);
  const procs: Proc[] = [];
  const start = (name: string, script: string, extra: string[], env: Record<string, string> = {}) => {
    const log = createWriteStream(join(work, `${name}.log`));
    const child = spawn(process.execPath, ['--import', 'tsx', join(repo, script), ...extra], {
      cwd: repo,
      env: { ...process.env, ...env, NATS_URL: natsUrl, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    procs.push({ name, child, exited });
    return { child, exited };
  };
  const stopAll = async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
    await Promise.race([Promise.all(procs.map((p) => p.exited)), new Promise((r) => setTimeout(r, 5000))]);
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await deleteDemoStreams(natsUrl, prefix).catch(() => {});
  };
  process.on('SIGINT', () => {
    void stopAll().then(() => process.exit(130));
  });

  try {
    say(`starting the coordinator on http://127.0.0.1:${port} and agents for ${cfg.sites.map((s) => s.id).join(', ')}`);
    // Agents first: the coordinator then hears every site well inside its startup grace.
    const agents = new Map<string, Proc>();
    for (const s of cfg.sites) {
      start(`agent-${s.id}`, 'services/site-agent/src/main.ts', ['--config', configFile, '--site', s.id, '--state-dir', join(work, `state-${s.id}`)]);
      agents.set(s.id, procs[procs.length - 1]!);
    }
    const coordinator = start('coordinator', 'services/coordinator/src/main.ts', ['--config', configFile, '--id', 'demo-coordinator'], storeEnv);
    const api = createApiClient(`http://127.0.0.1:${port}`);
    const tty = process.stdout.isTTY;
    let lastFrame = '';
    const show = async (headline: string): Promise<WorkloadView[] | undefined> => {
      try {
        const [sites, workloads] = await Promise.all([api.sites(), api.workloads()]);
        const frame = `${renderSites(sites)}\n\n${renderWorkloads(workloads)}`;
        if (tty) process.stdout.write(`\u001b[2J\u001b[H${colour('bold', headline)}\n\n${frame}\n`);
        else if (frame.replace(/[0-9.]+s ago/g, '') !== lastFrame.replace(/[0-9.]+s ago/g, '')) process.stdout.write(`\n${headline}\n${frame}\n`);
        lastFrame = frame;
        return workloads;
      } catch {
        return undefined;
      }
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const coordinatorDied = () => coordinator.child.exitCode !== null;

    // 1. every workload protected, every site up
    let phaseStart = Date.now();
    for (;;) {
      if (coordinatorDied()) throw new Error(`the coordinator exited; see ${join(work, 'coordinator.log')}`);
      if (Date.now() > deadline) throw new Error('timed out waiting for the estate to become protected');
      const ws = await show(`drc demo — estate starting (${((Date.now() - phaseStart) / 1000).toFixed(0)} s)`);
      const sites = await api.sites().catch(() => []);
      if (ws && ws.length > 0 && ws.every((w) => w.state === 'protected') && sites.length > 0 && sites.every((s) => s.status === 'up')) break;
      await sleep(500);
    }
    phaseStart = Date.now();
    while (Date.now() - phaseStart < failAfterMs) {
      await show(`drc demo — all protected; site ${failSite} fails in ${Math.ceil((failAfterMs - (Date.now() - phaseStart)) / 1000)} s`);
      await sleep(500);
    }

    // 2. the datacenter goes dark
    const before = (await api.workloads()).filter((w) => w.primarySite === failSite).map((w) => w.workloadId);
    const victim = agents.get(failSite)!;
    victim.child.kill('SIGKILL');
    const failedAt = Date.now();
    if (!tty) say(`site ${failSite} fails now: its agent is killed; ${before.length} workloads had their primary there (${before.join(', ')})`);

    // 3. watch them move
    for (;;) {
      if (coordinatorDied()) throw new Error(`the coordinator exited; see ${join(work, 'coordinator.log')}`);
      const ws = await show(`drc demo — site ${failSite} LOST ${((Date.now() - failedAt) / 1000).toFixed(1)} s ago; its workloads fail over`);
      const moved = ws?.filter((w) => before.includes(w.workloadId) && w.primarySite !== failSite && w.state === 'failedOver') ?? [];
      if (moved.length === before.length) {
        say(`all ${before.length} workloads of ${failSite} run elsewhere ${((Date.now() - failedAt) / 1000).toFixed(1)} s after the failure:`);
        for (const w of moved) say(`  ${w.workloadId}: ${failSite} → ${w.primarySite} (epoch ${w.epoch})`);
        say(`every step is in the event store: curl http://127.0.0.1:${port}/api/v1/workloads/${before[0]}/events`);
        if (args['exit-when-settled']) return 0;
        say('press Ctrl-C to stop');
        await new Promise(() => {});
      }
      if (Date.now() > deadline) {
        process.stderr.write(`timed out: ${moved.length}/${before.length} workloads moved; logs in ${work}\n`);
        return 1;
      }
      await sleep(500);
    }
  } catch (e) {
    process.stderr.write(`demo failed: ${(e as Error).message}\nlogs in ${work}\n`);
    return 1;
  } finally {
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo crashed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
