/**
 * The coordinator process:
 *   tsx services/coordinator/src/main.ts --config FILE [--port N] [--host H] [--id ID]
 *        [--nats URL] [--prefix P] [--database-url URL | --data-dir DIR]
 * Environment fallbacks: DRC_CONFIG, NATS_URL, DRC_PREFIX, DATABASE_URL, DRC_DATA_DIR, EVENTSTORE_URL.
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad arguments or configuration.
 */
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { createEventStore } from '@drc/event-store';
import { connectNats, createLogger, createTelemetry, installContextManager, isConfigError, isDependencyUnavailableError, loadConfigFile } from '@drc/runtime';
import { createApi } from './api/index';
import { Coordinator } from './coordinator';

const HELP = `drc coordinator — decides and drives failovers for the workloads in a config file

usage: coordinator --config FILE [options]

  --config FILE        drc configuration (YAML or JSON)           [DRC_CONFIG]
  --port N             HTTP port (default: coordinator.httpPort)
  --host H             HTTP bind address (default: coordinator.httpHost)
  --id ID              coordinator id recorded on every event
  --nats URL           NATS server (default: nats.url)             [NATS_URL]
  --prefix P           NATS subject prefix (default: nats.prefix) [DRC_PREFIX]
  --database-url URL   PostgreSQL event store                     [DATABASE_URL]
  --data-dir DIR       embedded (PGlite) event store folder when no database URL [DRC_DATA_DIR]
  --eventstore-url URL EventStoreDB / KurrentDB event store       [EVENTSTORE_URL]
  -h, --help           this text
`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        id: { type: 'string' },
        nats: { type: 'string' },
        prefix: { type: 'string' },
        'database-url': { type: 'string' },
        'data-dir': { type: 'string' },
        'eventstore-url': { type: 'string' },
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
  if (!configFile) {
    process.stderr.write(`missing --config FILE\n\n${HELP}`);
    return 2;
  }
  const logger = createLogger('coordinator');
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
  const natsUrl = args.nats ?? process.env.NATS_URL ?? config.nats.url;
  const prefix = args.prefix ?? process.env.DRC_PREFIX ?? config.nats.prefix;
  config = { ...config, nats: { url: natsUrl, prefix } };
  const port = args.port !== undefined ? Number(args.port) : config.coordinator.httpPort;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port: expected a port number, got "${args.port}"\n`);
    return 2;
  }
  const host = args.host ?? config.coordinator.httpHost;

  const databaseUrl = args['database-url'] ?? process.env.DATABASE_URL;
  const eventStoreUrl = args['eventstore-url'] ?? process.env.EVENTSTORE_URL;
  const dataDir = args['data-dir'] ?? process.env.DRC_DATA_DIR ?? '.drc-data/eventstore';
  const store = createEventStore({
    ...(databaseUrl ? { url: databaseUrl } : {}),
    ...(eventStoreUrl ? { eventStoreUrl } : {}),
    dataDir,
  });
  let nc;
  try {
    nc = await connectNats({ url: natsUrl, name: args.id ?? 'drc-coordinator' });
  } catch (e) {
    if (isDependencyUnavailableError(e)) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  // Traces: OTLP/HTTP export when OTEL_EXPORTER_OTLP_ENDPOINT is set; ids propagate either way.
  installContextManager();
  const telemetry = createTelemetry({ serviceName: 'drc-coordinator' });
  const coordinator = new Coordinator({ config, store, nc, logger, tracer: telemetry.tracer, ...(args.id ? { coordinatorId: args.id } : {}) });
  try {
    await coordinator.start();
  } catch (e) {
    process.stderr.write(`coordinator failed to start: ${(e as Error).message}\n${databaseUrl ? `event store: ${databaseUrl.replace(/\/\/[^@]*@/, '//***@')}\n` : ''}`);
    await nc.close();
    return 1;
  }
  const app = createApi({ coordinator, store, auth: config.auth, nc, warn: (m) => logger.warn(m) });
  const server = serve({ fetch: app.fetch, port, hostname: host }, (info) => {
    process.stdout.write(`coordinator ${coordinator.id} listening on http://${host}:${info.port} (${store.kind} event store, ${config.workloads.length} workloads, ${coordinator.isLeader ? 'leader' : 'standby'})\n`);
  });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      server.close();
      await coordinator.stop();
      await nc.drain().catch(() => nc.close());
      await store.close();
      await telemetry.shutdown().catch(() => undefined);
      resolve(0);
    };
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
  });
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`coordinator crashed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
