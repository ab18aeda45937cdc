import type { SiteView, WorkloadView } from '@drc/contracts';
import type { Command } from 'commander';
import { colour, siteColour, stateColour, table } from '../output';
import { clientFor, printJson, withApiOptions, type ApiOptions } from './api-options';

/** Pure. The sites table. */
export function renderSites(sites: SiteView[], now = Date.now()): string {
  return table(
    ['SITE', 'NAME', 'STATUS', 'PRIORITY', 'LAST HEARTBEAT'],
    sites.map((s) => [
      s.siteId,
      s.name ?? '',
      colour(siteColour(s.status), s.status),
      String(s.priority),
      s.lastHeartbeatAt ? `${((now - s.lastHeartbeatAt) / 1000).toFixed(1)}s ago` : '-',
    ]),
  );
}

/** Pure. The workloads table. */
export function renderWorkloads(workloads: WorkloadView[]): string {
  return table(
    ['WORKLOAD', 'STATE', 'PRIMARY', 'EPOCH', 'REPLICAS (lag s / RPO s)'],
    workloads.map((w) => [
      w.workloadId,
      colour(stateColour(w.state), w.state),
      w.primarySite,
      String(w.epoch),
      w.replicas
        .filter((r) => r.siteId !== w.primarySite)
        .map((r) => {
          const lag = r.lagSeconds === undefined ? '?' : r.lagSeconds.toFixed(1);
          const over = r.lagSeconds !== undefined && r.lagSeconds > w.policy.rpoSeconds;
          const text = `${r.siteId}:${r.role === 'replica' ? '' : `${r.role} `}${lag}/${w.policy.rpoSeconds}`;
          return colour(!r.healthy ? 'red' : over ? 'yellow' : 'grey', text);
        })
        .join(' '),
    ]),
  );
}

export function registerStatusCommand(program: Command): void {
  withApiOptions(program.command('status').description('sites and workloads at a glance (from the coordinator API)'))
    .action(async (opts: ApiOptions) => {
      const api = clientFor(opts);
      const [sites, workloads] = await Promise.all([api.sites(), api.workloads()]);
      if (opts.json) {
        printJson({ sites, workloads });
        return;
      }
      process.stdout.write(`${renderSites(sites)}\n\n${renderWorkloads(workloads)}\n`);
    });
}
