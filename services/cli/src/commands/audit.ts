import { workloadStream } from '@drc/contracts';
import { createEventStore, verifyAudit } from '@drc/event-store';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes';
import { colour } from '../output';
import { storeConfig, withStoreOptions, type StoreOptions } from '../store-options';

/** `drc audit verify`: recomputes every stream's hash chain and names each broken link. */
export function registerAuditCommand(program: Command): void {
  const audit = program.command('audit').description('tamper evidence: check the event store');
  withStoreOptions(
    audit
      .command('verify')
      .description('recompute the hash chain of every stream (or one) and report each broken link; exits 1 when any')
      .option('--stream <name>', 'only this stream (a workload id is accepted too)')
      .option('--json', 'print the report as JSON'),
  ).action(async (opts: StoreOptions & { stream?: string; json?: boolean }) => {
    const store = createEventStore(storeConfig(opts));
    try {
      await store.init();
      let stream = opts.stream;
      if (stream && !stream.includes('-') && (await store.streamVersion(stream)) === 0) stream = workloadStream(stream);
      const report = await verifyAudit(store, stream ? { stream } : {});
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else if (report.broken.length === 0) {
        process.stdout.write(`${colour('green', '✓')} ${report.streamsChecked} streams, ${report.eventsChecked} events: every hash chain is intact\n`);
      } else {
        process.stdout.write(`${colour('red', '✗')} ${report.broken.length} broken link${report.broken.length === 1 ? '' : 's'} in ${report.streamsChecked} streams (${report.eventsChecked} events):\n`);
        for (const b of report.broken) process.stdout.write(`  stream ${b.stream} position ${b.position}: ${b.reason}\n`);
      }
      process.exitCode = report.broken.length === 0 ? EXIT.ok : EXIT.failed;
    } finally {
      await store.close();
    }
  });
}
