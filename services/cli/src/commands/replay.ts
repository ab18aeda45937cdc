import { PartialPolicySchema, formatFieldIssues, toFieldIssues, workloadStream } from '@drc/contracts';
import { createEventStore, type EventStore } from '@drc/event-store';
import { verifyReplay, whatIf, type ReplayReport } from '@drc/history';
import { readDocument } from '@drc/runtime';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes';
import { colour } from '../output';
import { storeConfig, withStoreOptions, type StoreOptions } from '../store-options';

async function workloadStreams(store: EventStore, workload?: string): Promise<string[]> {
  return workload ? [workloadStream(workload)] : store.listStreams('workload-');
}

function short(v: unknown): string {
  const s = JSON.stringify(v);
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
}

/** `drc replay verify` and `drc whatif`: explain every past failover from the history alone. */
export function registerReplayCommands(program: Command): void {
  const replay = program.command('replay').description('replay recorded history through the statechart');
  withStoreOptions(
    replay
      .command('verify')
      .description('fold every workload stream through the current statechart and check each recorded decision and state is reproduced; exits 1 on any mismatch')
      .option('--workload <id>', 'only this workload')
      .option('--json', 'print the reports as JSON'),
  ).action(async (opts: StoreOptions & { workload?: string; json?: boolean }) => {
    const store = createEventStore(storeConfig(opts));
    try {
      await store.init();
      const reports: ReplayReport[] = [];
      for (const stream of await workloadStreams(store, opts.workload)) {
        const events = await store.readStream(stream);
        if (events.length === 0) {
          process.stderr.write(`no events in stream ${stream}\n`);
          process.exitCode = EXIT.failed;
          continue;
        }
        reports.push(verifyReplay(events));
      }
      const bad = reports.filter((r) => r.mismatches.length > 0);
      if (opts.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
      else {
        for (const r of reports) {
          if (r.mismatches.length === 0) process.stdout.write(`${colour('green', '✓')} ${r.stream}: ${r.inputs} inputs replayed, every decision reproduced\n`);
          else {
            process.stdout.write(`${colour('red', '✗')} ${r.stream}: ${r.mismatches.length} mismatch${r.mismatches.length === 1 ? '' : 'es'}\n`);
            for (const m of r.mismatches) {
              process.stdout.write(`  position ${m.position} (${m.kind})\n    recorded: ${short(m.recorded)}\n    replayed: ${short(m.replayed)}\n`);
            }
          }
        }
        process.stdout.write(`${reports.length} streams, ${bad.length} with mismatches\n`);
      }
      if (bad.length > 0 || reports.length === 0) process.exitCode = EXIT.failed;
    } finally {
      await store.close();
    }
  });

  withStoreOptions(
    program
      .command('whatif')
      .description('re-run recorded inputs with another policy and list where decisions would have differed (never writes to the store)')
      .requiredOption('--policy <file>', 'YAML/JSON file with the policy fields to change, e.g. "debounceMs: 5000"')
      .option('--workload <id>', 'only this workload')
      .option('--from <time>', 'only inputs at or after this time (ISO 8601)')
      .option('--to <time>', 'only inputs at or before this time (ISO 8601)')
      .option('--json', 'print the reports as JSON'),
  ).action(async (opts: StoreOptions & { policy: string; workload?: string; from?: string; to?: string; json?: boolean }) => {
    const parsed = PartialPolicySchema.safeParse(readDocument(opts.policy));
    if (!parsed.success) {
      process.stderr.write(`${opts.policy}: invalid policy\n${formatFieldIssues(toFieldIssues(parsed.error)).replace(/^/gm, '  ')}\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    const time = (s: string | undefined, name: string) => {
      if (s === undefined) return undefined;
      const t = Date.parse(s);
      if (Number.isNaN(t)) throw new Error(`--${name}: not a time: "${s}"`);
      return t;
    };
    const range = { from: time(opts.from, 'from'), to: time(opts.to, 'to') };
    const store = createEventStore(storeConfig(opts));
    try {
      await store.init();
      const reports = [];
      for (const stream of await workloadStreams(store, opts.workload)) {
        const events = await store.readStream(stream);
        if (events.length > 0) reports.push(whatIf(events, parsed.data, { ...(range.from !== undefined ? { from: range.from } : {}), ...(range.to !== undefined ? { to: range.to } : {}) }));
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
        return;
      }
      let changed = 0;
      for (const r of reports) {
        if (r.differences.length === 0) continue;
        changed++;
        process.stdout.write(`${colour('bold', r.stream)}\n${r.differences.map((d) => `  - ${d}`).join('\n')}\n`);
        if (r.assumptions.length) process.stdout.write(colour('grey', `  assumed: ${r.assumptions.join('; ')}\n`));
      }
      process.stdout.write(`${reports.length} workloads replayed with ${JSON.stringify(parsed.data)}: ${changed} would have differed\n`);
    } finally {
      await store.close();
    }
  });
}
