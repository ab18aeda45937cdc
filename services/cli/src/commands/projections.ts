import { createPostgresEventStore } from '@drc/event-store';
import { Projector } from '@drc/projections';
import type { Command } from 'commander';
import { exitFor, UsageError } from '../errors';
import { colour } from '../output';

interface ProjectionOptions {
  databaseUrl?: string;
  schema: string;
  json?: boolean;
}

function withProjectionOptions(cmd: Command): Command {
  return cmd
    .option('--database-url <url>', 'the PostgreSQL event store the read models live beside [DATABASE_URL]', process.env.DATABASE_URL)
    .option('--schema <name>', 'PostgreSQL schema of the read models', 'drc_read')
    .option('--json', 'print the result as JSON');
}

/**
 * `drc projections status|rebuild`: the read models (workloads, failovers) that coordinators keep
 * in PostgreSQL beside the event store. `rebuild` recomputes them from the first event.
 */
export function registerProjectionCommands(program: Command): void {
  const projections = program
    .command('projections')
    .description('read models in PostgreSQL (workloads, failovers), kept from the event log by the coordinators')
    .addHelpText('after', '\nThe read models are derived only from the event log: `rebuild` gives exactly the rows the live projection has.\nExamples:\n  drc projections status --database-url postgres://127.0.0.1/drc\n  drc projections rebuild --database-url postgres://127.0.0.1/drc\n  drc projections rebuild --schema drc_read_check   # a second copy to compare with the live one');

  const open = (o: ProjectionOptions) => {
    if (!o.databaseUrl) throw new UsageError('--database-url (or DATABASE_URL) is required: the read models live in the PostgreSQL event store');
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(o.schema)) throw new UsageError(`--schema: expected a lowercase SQL name (letters, digits, _), got "${o.schema}"`);
    const store = createPostgresEventStore({ url: o.databaseUrl, maxConnections: 2 });
    const projector = new Projector({ url: o.databaseUrl, store, schema: o.schema });
    return { store, projector, close: async () => (await projector.close(), await store.close()) };
  };

  withProjectionOptions(projections.command('status').description('how far the read models have followed the log, and their row counts')).action(async (o: ProjectionOptions) => {
    await run(async () => {
      const { projector, close } = open(o);
      try {
        const s = await projector.status();
        if (o.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        else process.stdout.write(`schema ${s.schema}: ${s.eventsApplied} events applied (checkpoint ${s.checkpoint ?? 'none'}), ${s.workloads} workloads, ${s.failovers} failovers\n`);
      } finally {
        await close();
      }
    });
  });

  withProjectionOptions(projections.command('rebuild').description('recompute the read models from the first event (one transaction: readers see the old rows until it commits)')).action(async (o: ProjectionOptions) => {
    await run(async () => {
      const { store, projector, close } = open(o);
      try {
        await store.init();
        const t0 = performance.now();
        let shown = 0;
        const events = await projector.rebuild((n) => {
          if (!o.json && n - shown >= 10_000) {
            shown = n;
            process.stderr.write(`  ${n} events…\n`);
          }
        });
        const s = await projector.status();
        const ms = Math.round(performance.now() - t0);
        if (o.json) process.stdout.write(`${JSON.stringify({ ...s, rebuiltEvents: events, ms }, null, 2)}\n`);
        else process.stdout.write(`${colour('green', '✓')} rebuilt schema ${s.schema} from ${events} events in ${ms} ms: ${s.workloads} workloads, ${s.failovers} failovers\n`);
      } finally {
        await close();
      }
    });
  });
}

async function run(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = exitFor(e).exit;
  }
}
