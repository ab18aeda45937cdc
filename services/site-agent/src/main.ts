/**
 * The site agent process:
 *   tsx services/site-agent/src/main.ts --config FILE --site SITE [--agent-id ID] [--nats URL]
 *        [--prefix P] [--heartbeat-ms 1000] [--lease-ttl-ms 3000]
 *        [--witness-listen HOST:PORT] [--witness-peer SITE=URL ...] [--state-dir DIR]
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad arguments or configuration.
 */
import { randomUUID } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { connectNatsOrExit, natsAuthFromEnv, natsReplicasFromEnv, createLogger, type Logger, createTelemetry, installContextManager, isConfigError, loadConfigOrExit, parseProcessArgs, readDocument, PROCESS_EXIT, runProcess, untilStopped } from '@drc/runtime';
import { dirname, join, resolve } from 'node:path';
import { formatFieldIssues, parseAgentConfig, type AgentConfig, type DrcConfig } from '@drc/contracts';
import { SiteAgent } from './shell/index';
import { AgentStateJournal } from './shell/file-journal';
import { parseListen, parseWitnessPeers, Witness } from './shell/http-witness';
import { WATCHED_DRIVER_TYPES, WatchdogLink } from './watchdog/watchdog';
import { createDrivers } from './workloads';

const HELP = `drc site agent — the coordinator's hands in one datacenter

usage: site-agent --config FILE --site SITE [options]
       site-agent --agent-config FILE [options]

  --agent-config FILE  this agent's own settings (YAML): site, config, nats, heartbeatMs,
                       leaseTtlMs, stateDir, witness {listen, peers}; flags override it
                                                                                       [DRC_AGENT_CONFIG]
  --config FILE        drc configuration (YAML or JSON): the site's workloads and drivers [DRC_CONFIG]
  --site SITE          the site this agent runs in                                     [DRC_SITE]
  --agent-id ID        agent id (default: <site>@<hostname>)
  --nats URL           NATS server, or several comma-separated servers of one cluster (default: nats.url in the config) [NATS_URL]
                       each drc stream is kept on nats.replicas servers [DRC_NATS_REPLICAS]
  --prefix P           NATS subject prefix (default: nats.prefix)                       [DRC_PREFIX]
  --heartbeat-ms N     heartbeat and observation interval (default 1000)
  --lease-ttl-ms N     lease the agent claims; it fences its own primaries when the lease
                       lapses and it cannot reach a majority of sites (default 3000)
  --witness-listen A   answer the other agents' witness probes on HOST:PORT or PORT
                       (default: the port of this site's witnessUrl in the config)
  --witness-peer S=URL probe site S's agent at URL (repeatable; default: each other site's
                       witnessUrl). Peers heard directly count as reachable even when NATS is
                       cut, so a site cut from the coordinator only is neither failed over
                       nor fenced.
  --state-dir DIR      keep the newest epoch per workload and recent command results here,
                       so a restarted agent still refuses stale orders and never runs a
                       command twice (recommended; without it they live in memory only)  [DRC_STATE_DIR]
  A site holding postgres, libvirt or exec copies gets a watchdog process (detached, its lease
  file in the state dir): if this agent dies or hangs and no agent renews the lease in time, it
  fences the site's primaries of workloads that fail over automatically at the lease deadline
  (README, "Site agents in production").
  NATS credentials come from the environment: NATS_USER + NATS_PASSWORD, NATS_TOKEN or
  NATS_CREDS (a .creds file); NATS_CA, NATS_CERT, NATS_KEY for TLS.
  -h, --help           this text
`;

async function main(): Promise<number> {
  const parsed = parseProcessArgs(
    {
      config: { type: 'string' },
      site: { type: 'string' },
      'agent-id': { type: 'string' },
      nats: { type: 'string' },
      prefix: { type: 'string' },
      'agent-config': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      'lease-ttl-ms': { type: 'string' },
      'witness-listen': { type: 'string' },
      'witness-peer': { type: 'string', multiple: true },
      'state-dir': { type: 'string' },
    },
    HELP,
  );
  if (!parsed.ok) return parsed.exit;
  const args = parsed.values;
  const agentConfigFile = args['agent-config'] ?? process.env.DRC_AGENT_CONFIG;
  const ac = agentConfigFile ? loadAgentConfigOrExit(agentConfigFile) : undefined;
  if (typeof ac === 'number') return ac;
  const configFile = args.config ?? process.env.DRC_CONFIG ?? (ac && agentConfigFile ? resolve(dirname(agentConfigFile), ac.config) : undefined);
  const siteId = args.site ?? process.env.DRC_SITE ?? ac?.site;
  if (!configFile || !siteId) {
    process.stderr.write(`missing ${!configFile ? '--config FILE' : '--site SITE'} (or --agent-config FILE)\n\n${HELP}`);
    return PROCESS_EXIT.usage;
  }
  const heartbeatMs = Number(args['heartbeat-ms'] ?? ac?.heartbeatMs ?? 1000);
  const leaseTtlMs = Number(args['lease-ttl-ms'] ?? ac?.leaseTtlMs ?? 3000);
  for (const [name, v] of [['--heartbeat-ms', heartbeatMs], ['--lease-ttl-ms', leaseTtlMs]] as const) {
    if (!Number.isInteger(v) || v <= 0) {
      process.stderr.write(`${name}: expected a positive number of milliseconds\n`);
      return PROCESS_EXIT.usage;
    }
  }
  const config = loadConfigOrExit(configFile);
  if (typeof config === 'number') return config;
  if (!config.sites.some((s) => s.id === siteId)) {
    process.stderr.write(`--site: unknown site "${siteId}" (the config has ${config.sites.map((s) => s.id).join(', ')})\n`);
    return PROCESS_EXIT.usage;
  }
  const streamReplicas = natsReplicasFromEnv(config.nats.replicas);
  if (streamReplicas instanceof Error) {
    process.stderr.write(`${streamReplicas.message}\n`);
    return PROCESS_EXIT.usage;
  }
  const agentId = args['agent-id'] ?? ac?.agentId ?? `${siteId}@${hostname()}`;
  const logger = createLogger('site-agent', { siteId, agentId });
  const witness = witnessFor(config, siteId, agentId, args['witness-listen'] ?? (ac?.witness.listen !== undefined ? String(ac.witness.listen) : undefined), [...Object.entries(ac?.witness.peers ?? {}).map(([k, v]) => `${k}=${v}`), ...(args['witness-peer'] ?? [])], Math.min(heartbeatMs, leaseTtlMs / 3), logger);
  if (witness instanceof Error) {
    process.stderr.write(`${witness.message}\n`);
    return PROCESS_EXIT.usage;
  }
  const peerSentAt = new Map<string, number>();
  const drivers = await createDrivers(config, siteId, logger, (s) => peerSentAt.get(s)).catch((e: unknown) => e as Error);
  if (drivers instanceof Error) {
    process.stderr.write(`${drivers.message}\n`);
    return PROCESS_EXIT.usage;
  }
  const stateDir = args['state-dir'] ?? process.env.DRC_STATE_DIR ?? (ac?.stateDir && agentConfigFile ? resolve(dirname(agentConfigFile), ac.stateDir) : undefined);
  let journal: AgentStateJournal | undefined;
  try {
    journal = stateDir ? AgentStateJournal.open(stateDir) : undefined;
  } catch (e) {
    process.stderr.write(`--state-dir: ${(e as Error).message}\n`);
    return PROCESS_EXIT.usage;
  }
  if (!journal) logger.warn('no --state-dir: epochs and command results are kept in memory only and forgotten on restart');
  const prefix = args.prefix ?? process.env.DRC_PREFIX ?? ac?.nats.prefix ?? config.nats.prefix;
  const incarnation = { id: randomUUID(), startedAt: Date.now() };
  // Copies that outlive this process (a database, a VM, a service run by commands) get a
  // watchdog: if this agent dies and no agent renews its lease in time, the coordinator fails
  // the site over and the watchdog fences them at the lease deadline (watchdog/watchdog.ts).
  const watchedTypes = new Set(config.workloads.filter((w) => drivers.some((d) => d.workloadId === w.id) && WATCHED_DRIVER_TYPES.has(w.driver.type)).map((w) => w.driver.type));
  const watchdog = watchedTypes.size > 0
    ? new WatchdogLink({ configFile: resolve(configFile), siteId, incarnation: incarnation.id, leaseTtlMs, heartbeatMs, logger, leaseFile: stateDir ? join(stateDir, 'watchdog-lease.json') : join(tmpdir(), `drc-watchdog-${prefix}-${siteId}.json`) })
    : undefined;
  watchdog?.start();
  const nc = await connectNatsOrExit({ url: args.nats ?? process.env.NATS_URL ?? ac?.nats.url ?? config.nats.url, name: `drc-agent-${siteId}`, ...natsAuthFromEnv() });
  if (typeof nc === 'number') return nc;
  // Traces: OTLP/HTTP export when OTEL_EXPORTER_OTLP_ENDPOINT is set; ids propagate either way.
  installContextManager();
  const telemetry = createTelemetry({ serviceName: 'drc-site-agent' });
  const agent = new SiteAgent({
    tracer: telemetry.tracer,
    siteId,
    agentId,
    prefix,
    nc,
    incarnation,
    workloads: drivers,
    peerSites: config.sites.map((s) => s.id).filter((s) => s !== siteId),
    heartbeatMs,
    leaseTtlMs,
    logger,
    peerSentAt,
    streamReplicas,
    ...(witness ? { witness } : {}),
    ...(journal ? { journal } : {}),
    ...(watchdog ? { watchdog } : {}),
  });
  // The watchdog starts beside the agent, not before it (that lengthened every restart): the
  // beat lines written meanwhile wait in its pipe, and it takes the lease from the first it reads.
  watchdog?.ready.catch((e: unknown) => logger.error({ err: e }, "the watchdog is not on duty: this site's primaries are not fenced if this agent dies (it is started again at a later heartbeat)"));
  await agent.start();
  const probing = witness ? ` witness on :${witness.port ?? '-'} probing ${Object.keys(witnessPeers(config, siteId, [...Object.entries(ac?.witness.peers ?? {}).map(([k, v]) => `${k}=${v}`), ...(args['witness-peer'] ?? [])])).join(',') || 'nobody'}` : '';
  process.stdout.write(`agent ${siteId} ready (${drivers.length} workloads)${probing}${watchdog?.pid ? ` watchdog pid ${watchdog.pid}` : ''}\n`);
  return untilStopped(async () => {
    watchdog?.detach();
    await agent.stop();
    for (const d of drivers) await d.driver.close().catch(() => undefined);
    await nc.drain().catch(() => nc.close());
    journal?.close();
    await telemetry.shutdown().catch(() => undefined);
  });
}

/** Not pure (reads, prints). Loads the agent's own config file; prints every bad field and returns exit code 2 when invalid. */
function loadAgentConfigOrExit(file: string): AgentConfig | number {
  try {
    const r = parseAgentConfig(readDocument(file));
    if (r.ok) return r.value;
    process.stderr.write(`${file}: invalid agent configuration\n${formatFieldIssues(r.issues).replace(/^/gm, '  ')}\n`);
  } catch (e) {
    if (!isConfigError(e)) throw e;
    process.stderr.write(`${e.message}\n`);
  }
  return PROCESS_EXIT.usage;
}

/** Pure. Peer witness URLs: the config's `witnessUrl` of every other site, overridden by flags. */
function witnessPeers(config: DrcConfig, siteId: string, flags: string[]): Record<string, string> {
  const fromConfig = Object.fromEntries(config.sites.filter((s) => s.id !== siteId && s.witnessUrl).map((s) => [s.id, s.witnessUrl!.replace(/\/+$/, '')]));
  return { ...fromConfig, ...parseWitnessPeers(flags) };
}

/** The agent's witness (probe server and prober), undefined when none is configured, or an Error naming the bad flag. */
function witnessFor(config: DrcConfig, siteId: string, agentId: string, listenFlag: string | undefined, peerFlags: string[], timeoutMs: number, logger: Logger): Witness | undefined | Error {
  try {
    const peers = witnessPeers(config, siteId, peerFlags);
    for (const s of Object.keys(peers)) if (s === siteId || !config.sites.some((c) => c.id === s)) throw new Error(`--witness-peer: "${s}" is not another site of the config`);
    const own = config.sites.find((s) => s.id === siteId)?.witnessUrl;
    const listen = listenFlag ? parseListen(listenFlag) : own ? { host: '0.0.0.0', port: Number(new URL(own).port || (own.startsWith('https') ? 443 : 80)) } : undefined;
    if (!listen && Object.keys(peers).length === 0) return undefined;
    return new Witness({ siteId, agentId, peers, timeoutMs: Math.max(100, timeoutMs), logger, ...(listen ? { listen } : {}) });
  } catch (e) {
    return e as Error;
  }
}

runProcess('site agent', main);
