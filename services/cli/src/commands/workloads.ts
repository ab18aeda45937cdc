import { TIME_SPEC_HELP, type FailoverRecord, type WorkloadView } from '@drc/contracts';
import type { Command } from 'commander';
import { colour, stateColour, table } from '../output';
import { clientFor, printJson, withApiOptions, type ApiOptions } from './api-options';
import { timeOption } from './time-option';
import { renderSites, renderWorkloads } from './status';

const time = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));

/** Pure. One workload in detail. */
export function renderWorkload(w: WorkloadView): string {
  const head = [
    `${colour('bold', w.workloadId)}  ${colour(stateColour(w.state), w.state)}  drill: ${w.drill}`,
    `primary ${w.primarySite}  epoch ${w.epoch}  RPO ${w.policy.rpoSeconds}s  mode ${w.policy.failoverMode}`,
    `last transition ${time(w.lastTransitionAt)}  last failover ${time(w.lastFailoverAt)}`,
    '',
  ];
  const rows = w.replicas.map((r) => [
    r.siteId,
    r.role,
    r.healthy ? colour('green', 'healthy') : colour('red', 'unhealthy'),
    r.lagSeconds === undefined ? '-' : colour(r.lagSeconds > w.policy.rpoSeconds ? 'yellow' : 'grey', r.lagSeconds.toFixed(1)),
    String(r.priority),
  ]);
  return [...head, table(['SITE', 'ROLE', 'HEALTH', 'LAG s', 'PRIORITY'], rows)].join('\n');
}

/** Pure. The failover history table. */
export function renderFailovers(failovers: FailoverRecord[]): string {
  if (failovers.length === 0) return 'no failovers recorded';
  return table(
    ['COMPLETED', 'WORKLOAD', 'FROM', 'TO', 'EPOCH', 'RTO s', 'DATA LOSS s'],
    failovers.map((f) => [time(f.completedAt), f.workloadId, f.fromSite, f.toSite, String(f.epoch), (f.rtoMs / 1000).toFixed(1), f.dataLossSeconds === undefined ? '-' : f.dataLossSeconds.toFixed(1)]),
  );
}

/** Pure. The failovers recorded up to a stream position (the part of history `show --at` folded). */
export function failoversBy(failovers: FailoverRecord[], position: number): FailoverRecord[] {
  return failovers.filter((f) => f.streamPosition <= position);
}

/** `drc sites`, `drc workloads`, `drc show ID [--at T]` (`history`, `failovers`, `report`: commands/history.ts). */
export function registerWorkloadCommands(program: Command): void {
  withApiOptions(program.command('sites').description('sites and their health')).action(async (opts: ApiOptions) => {
    const sites = await clientFor(opts).sites();
    if (opts.json) printJson({ sites });
    else process.stdout.write(`${renderSites(sites)}\n`);
  });
  withApiOptions(program.command('workloads').description('workloads: state, primary, epoch, replica lag against RPO')).action(async (opts: ApiOptions) => {
    const workloads = await clientFor(opts).workloads();
    if (opts.json) printJson({ workloads });
    else process.stdout.write(`${renderWorkloads(workloads)}\n`);
  });
  withApiOptions(program.command('show').argument('<workload>').description('one workload in detail, with its failover history; --at: as it was at a past moment'))
    .option('--at <time>', `rebuild the workload from its history as it was at this time (${TIME_SPEC_HELP})`, timeOption)
    .action(async (id: string, opts: ApiOptions & { at?: string }) => {
      const api = clientFor(opts);
      if (opts.at !== undefined) {
        const [past, all] = await Promise.all([api.stateAt(id, opts.at), api.failovers(id)]);
        const failovers = failoversBy(all, past.position);
        if (opts.json) printJson({ at: past.at, position: past.position, recordedAt: past.recordedAt, workload: past.view, failovers });
        else process.stdout.write(`${colour('grey', `as of ${past.at} (history up to stream position ${past.position}${past.recordedAt ? `, recorded ${past.recordedAt}` : ''})`)}\n${renderWorkload(past.view)}\n\n${renderFailovers(failovers)}\n`);
        return;
      }
      const [workload, failovers] = await Promise.all([api.workload(id), api.failovers(id)]);
      if (opts.json) printJson({ workload, failovers });
      else process.stdout.write(`${renderWorkload(workload)}\n\n${renderFailovers(failovers)}\n`);
    });
}
