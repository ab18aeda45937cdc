/**
 * The site agent process:
 *   tsx services/site-agent/src/main.ts --config FILE --site SITE [--agent-id ID] [--nats URL]
 *        [--prefix P] [--heartbeat-ms 1000] [--lease-ttl-ms 3000]
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad arguments or configuration.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { connectNats, createLogger, createTelemetry, installContextManager, isConfigError, isDependencyUnavailableError, loadConfigFile } from '@drc/runtime';
import { SiteAgent } from './agent/index';
import { createDrivers } from './workloads';

const HELP = `drc site agent — the coordinator's hands in one datacenter

usage: site-agent --config FILE --site SITE [options]

  --config FILE        drc configuration (YAML or JSON): the site's workloads and drivers [DRC_CONFIG]
  --site SITE          the site this agent runs in                                     [DRC_SITE]
  --agent-id ID        agent id (default: <site>@<hostname>)
  --nats URL           NATS server (default: nats.url in the config)                    [NATS_URL]
  --prefix P           NATS subject prefix (default: nats.prefix)                       [DRC_PREFIX]
  --heartbeat-ms N     heartbeat and observation interval (default 1000)
  --lease-ttl-ms N     lease the agent claims; it fences its own primaries when the lease
                       lapses and it cannot reach a majority of sites (default 3000)
  -h, --help           this text
`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string' },
        site: { type: 'string' },
        'agent-id': { type: 'string' },
        nats: { type: 'string' },
        prefix: { type: 'string' },
        'heartbeat-ms': { type: 'string', default: '1000' },
        'lease-ttl-ms': { type: 'string', default: '3000' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const configFile = args.config ?? process.env.DRC_CONFIG;
  const siteId = args.site ?? process.env.DRC_SITE;
  if (!configFile || !siteId) {
    process.stderr.write(`missing ${!configFile ? '--config FILE' : '--site SITE'}\n\n${HELP}`);
    return 2;
  }
  const heartbeatMs = Number(args['heartbeat-ms']);
  const leaseTtlMs = Number(args['lease-ttl-ms']);
  for (const [name, v] of [['--heartbeat-ms', heartbeatMs], ['--lease-ttl-ms', leaseTtlMs]] as const) {
    if (!Number.isInteger(v) || v <= 0) {
      process.stderr.write(`${name}: expected a positive number of milliseconds\n`);
      return 2;
    }
  }
  let config;
  try {
    config = loadConfigFile(configFile);
  } catch (e) {
    if (isConfigError(e)) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (!config.sites.some((s) => s.id === siteId)) {
    process.stderr.write(`--site: unknown site "${siteId}" (the config has ${config.sites.map((s) => s.id).join(', ')})\n`);
    return 2;
  }
  const agentId = args['agent-id'] ?? `${siteId}@${hostname()}`;
  const logger = createLogger('site-agent', { siteId, agentId });
  const peerSentAt = new Map<string, number>();
  const drivers = await createDrivers(config, siteId, logger, (s) => peerSentAt.get(s)).catch((e: unknown) => e as Error);
  if (drivers instanceof Error) {
    process.stderr.write(`${drivers.message}\n`);
    return 2;
  }
  const natsUrl = args.nats ?? process.env.NATS_URL ?? config.nats.url;
  let nc;
  try {
    nc = await connectNats({ url: natsUrl, name: `drc-agent-${siteId}` });
  } catch (e) {
    if (isDependencyUnavailableError(e)) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  // Traces: OTLP/HTTP export when OTEL_EXPORTER_OTLP_ENDPOINT is set; ids propagate either way.
  installContextManager();
  const telemetry = createTelemetry({ serviceName: 'drc-site-agent' });
  const agent = new SiteAgent({
    tracer: telemetry.tracer,
    siteId,
    agentId,
    prefix: args.prefix ?? process.env.DRC_PREFIX ?? config.nats.prefix,
    nc,
    workloads: drivers,
    peerSites: config.sites.map((s) => s.id).filter((s) => s !== siteId),
    heartbeatMs,
    leaseTtlMs,
    logger,
    peerSentAt,
  });
  await agent.start();
  process.stdout.write(`agent ${siteId} ready (${drivers.length} workloads)\n`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = async () => {
      if (stopping) return;
      stopping = true;
      await agent.stop();
      for (const d of drivers) await d.driver.close().catch(() => undefined);
      await nc.drain().catch(() => nc.close());
      await telemetry.shutdown().catch(() => undefined);
      resolve(0);
    };
    process.on('SIGTERM', () => void shutdown());
    process.on('SIGINT', () => void shutdown());
  });
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`site agent crashed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
