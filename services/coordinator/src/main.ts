/**
 * The coordinator process:
 *   tsx services/coordinator/src/main.ts --config FILE [--port N] [--host H] [--id ID]
 *        [--nats URL] [--prefix P] [--database-url URL | --data-dir DIR]
 * Environment fallbacks: DRC_CONFIG, NATS_URL, DRC_PREFIX, DATABASE_URL, DRC_DATA_DIR, EVENTSTORE_URL.
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad arguments or configuration.
 */
import { serve } from '@hono/node-server';
import { createEventStore } from '@drc/event-store';
import { connectNatsOrExit, natsAuthFromEnv, natsReplicasFromEnv, createLogger, createTelemetry, installContextManager, loadConfigOrExit, parseProcessArgs, PROCESS_EXIT, runProcess, untilStopped } from '@drc/runtime';
import { createApi } from './api/index';
import { Projector } from '@drc/projections';
import { Coordinator } from './coordinator';

const HELP = `drc coordinator — decides and drives failovers for the workloads in a config file

usage: coordinator --config FILE [options]

  --config FILE        drc configuration (YAML or JSON)           [DRC_CONFIG]
  --port N             HTTP port (default: coordinator.httpPort)
  --host H             HTTP bind address (default: coordinator.httpHost)
  --id ID              coordinator id recorded on every event
  --nats URL           NATS server, or several comma-separated servers of one cluster (default: nats.url) [NATS_URL]
                       each drc stream is kept on nats.replicas servers [DRC_NATS_REPLICAS]
  --prefix P           NATS subject prefix (default: nats.prefix) [DRC_PREFIX]
  --database-url URL   PostgreSQL event store                     [DATABASE_URL]
  --data-dir DIR       embedded (PGlite) event store folder when no database URL [DRC_DATA_DIR]
  --eventstore-url URL EventStoreDB / KurrentDB event store       [EVENTSTORE_URL]
  NATS credentials come from the environment: NATS_USER + NATS_PASSWORD, NATS_TOKEN or
  NATS_CREDS (a .creds file); NATS_CA, NATS_CERT, NATS_KEY for TLS.
  -h, --help           this text
`;

async function main(): Promise<number> {
  const parsed = parseProcessArgs(
    {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      id: { type: 'string' },
      nats: { type: 'string' },
      prefix: { type: 'string' },
      'database-url': { type: 'string' },
      'data-dir': { type: 'string' },
      'eventstore-url': { type: 'string' },
    },
    HELP,
  );
  if (!parsed.ok) return parsed.exit;
  const args = parsed.values;
  const configFile = args.config ?? process.env.DRC_CONFIG;
  if (!configFile) {
    process.stderr.write(`missing --config FILE\n\n${HELP}`);
    return PROCESS_EXIT.usage;
  }
  const logger = createLogger('coordinator');
  const loaded = loadConfigOrExit(configFile);
  if (typeof loaded === 'number') return loaded;
  const natsUrl = args.nats ?? process.env.NATS_URL ?? loaded.nats.url;
  const prefix = args.prefix ?? process.env.DRC_PREFIX ?? loaded.nats.prefix;
  const replicas = natsReplicasFromEnv(loaded.nats.replicas);
  if (replicas instanceof Error) {
    process.stderr.write(`${replicas.message}\n`);
    return PROCESS_EXIT.usage;
  }
  const config = { ...loaded, nats: { url: natsUrl, prefix, replicas } };
  const port = args.port !== undefined ? Number(args.port) : config.coordinator.httpPort;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port: expected a port number, got "${args.port}"\n`);
    return PROCESS_EXIT.usage;
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
  const nc = await connectNatsOrExit({ url: natsUrl, name: args.id ?? 'drc-coordinator', ...natsAuthFromEnv() });
  if (typeof nc === 'number') return nc;
  // Traces: OTLP/HTTP export when OTEL_EXPORTER_OTLP_ENDPOINT is set; ids propagate either way.
  installContextManager();
  const telemetry = createTelemetry({ serviceName: 'drc-coordinator' });
  const coordinator = new Coordinator({ config, store, nc, logger, tracer: telemetry.tracer, ...(args.id ? { coordinatorId: args.id } : {}) });
  try {
    await coordinator.start();
  } catch (e) {
    process.stderr.write(`coordinator failed to start: ${(e as Error).message}\n${databaseUrl ? `event store: ${databaseUrl.replace(/\/\/[^@]*@/, '//***@')}\n` : ''}`);
    await nc.close();
    return PROCESS_EXIT.failed;
  }
  // Read models beside a PostgreSQL event store, followed by every coordinator (leader or not).
  const projector = databaseUrl ? new Projector({ url: databaseUrl, store, onError: (e) => logger.warn({ err: e }, 'projection update failed; retrying') }) : undefined;
  await projector?.start().catch((e: unknown) => logger.error({ err: e }, 'read models not started (drc projections rebuild can recompute them)'));
  const app = createApi({ coordinator, store, auth: config.auth, nc, warn: (m) => logger.warn(m), projections: projector });
  const server = serve({ fetch: app.fetch, port, hostname: host }, (info) => {
    process.stdout.write(`coordinator ${coordinator.id} listening on http://${host}:${info.port} (${store.kind} event store, ${config.workloads.length} workloads, ${coordinator.isLeader ? 'leader' : 'standby'})\n`);
  });
  // Never stop serving, nor exit, without saying why (a coordinator's API once vanished in silence).
  let stopping = false;
  const shutdown = async () => {
    stopping = true;
    server.close();
    await coordinator.stop(); // a leader releases its lease: a standby takes over at once
    await projector?.close().catch(() => undefined);
    await nc.drain().catch(() => nc.close());
    await store.close();
    await telemetry.shutdown().catch(() => undefined);
  };
  const fail = (reason: string, err?: unknown) => {
    if (stopping) return;
    logger.fatal({ err, coordinatorId: coordinator.id, port, host }, `${reason}; stopping`);
    void shutdown()
      .catch((e: unknown) => logger.error({ err: e }, 'shutdown after a failure did not finish'))
      .finally(() => process.exit(PROCESS_EXIT.failed));
  };
  server.on('error', (e: unknown) => fail('HTTP API failed and no longer serves', e));
  server.on('close', () => fail('HTTP API closed unexpectedly'));
  void nc.closed().then((e) => fail('NATS connection closed for good (it is not retried)', e));
  return untilStopped(async (signal) => {
    logger.info({ signal }, 'stopping');
    await shutdown();
  });
}

runProcess('coordinator', main);
