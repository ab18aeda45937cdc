import { StreamStoredEventSchema, WorkloadViewSchema } from '@drc/contracts';
import type { Command } from 'commander';
import { colour, stateColour } from '../output';
import { clientFor, withApiOptions, type ApiOptions } from './api-options';

/** `drc watch`: the live feed (SSE), one line per recorded event and per workload state change; Ctrl-C stops. */
export function registerWatchCommand(program: Command): void {
  withApiOptions(program.command('watch').description('live changes from the coordinator (Ctrl-C stops)'))
    .option('--workload <id>', 'only this workload')
    .action(async (opts: ApiOptions & { workload?: string }) => {
      const api = clientFor(opts);
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const states = new Map<string, string>();
      try {
        await api.stream((m) => {
          if (m.event === 'stored') {
            const e = StreamStoredEventSchema.safeParse(JSON.parse(m.data));
            if (!e.success || (opts.workload && e.data.workloadId !== opts.workload)) return;
            if (opts.json) process.stdout.write(`${JSON.stringify({ kind: 'event', id: m.id, ...e.data })}\n`);
            else process.stdout.write(`${colour('grey', e.data.recordedAt)} ${e.data.workloadId ?? e.data.stream} #${e.data.position} ${e.data.type}\n`);
          } else if (m.event === 'workload') {
            const w = WorkloadViewSchema.safeParse(JSON.parse(m.data));
            if (!w.success || (opts.workload && w.data.workloadId !== opts.workload)) return;
            if (states.get(w.data.workloadId) === `${w.data.state}/${w.data.primarySite}`) return;
            states.set(w.data.workloadId, `${w.data.state}/${w.data.primarySite}`);
            if (opts.json) process.stdout.write(`${JSON.stringify({ kind: 'workload', ...w.data })}\n`);
            else process.stdout.write(`${colour('bold', w.data.workloadId)} → ${colour(stateColour(w.data.state), w.data.state)} (primary ${w.data.primarySite}, epoch ${w.data.epoch})\n`);
          }
        }, abort.signal);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
