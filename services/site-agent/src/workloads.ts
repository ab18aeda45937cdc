import type { DrcConfig } from '@drc/contracts';
import type { Logger } from '@drc/runtime';
import type { DriverSetup, WorkloadDriver } from './drivers/driver';
import { driverFactory } from './drivers/registry';

/** Pure. The driver setups of the workloads that hold a copy at `siteId`. */
export function setupsForSite(config: DrcConfig, siteId: string, logger: Logger, peerLastHeard?: (siteId: string) => number | undefined): DriverSetup[] {
  return config.workloads
    .filter((w) => w.primarySite === siteId || w.replicaSites.includes(siteId))
    .map((w) => ({
      workloadId: w.id,
      siteId,
      configuredRole: w.primarySite === siteId ? ('primary' as const) : ('replica' as const),
      settings: { ...w.driver.settings, ...(w.driver.sites[siteId] ?? {}) },
      peers: [{ siteId: w.primarySite, role: 'primary' as const }, ...w.replicaSites.map((s) => ({ siteId: s, role: 'replica' as const }))].filter((p) => p.siteId !== siteId),
      logger: logger.child({ workloadId: w.id }),
      peerSettings: (peer: string) => ([w.primarySite, ...w.replicaSites].includes(peer) ? { ...w.driver.settings, ...(w.driver.sites[peer] ?? {}) } : undefined),
      ...(peerLastHeard ? { peerLastHeard } : {}),
    }));
}

/** Creates every driver of a site; throws naming the workload and driver when one cannot start. */
export async function createDrivers(
  config: DrcConfig,
  siteId: string,
  logger: Logger,
  peerLastHeard?: (siteId: string) => number | undefined,
): Promise<Array<{ workloadId: string; driver: WorkloadDriver }>> {
  const out: Array<{ workloadId: string; driver: WorkloadDriver }> = [];
  for (const setup of setupsForSite(config, siteId, logger, peerLastHeard)) {
    const type = config.workloads.find((w) => w.id === setup.workloadId)!.driver.type;
    try {
      const factory = await driverFactory(type);
      out.push({ workloadId: setup.workloadId, driver: await factory(setup) });
    } catch (e) {
      throw new Error(`workload ${setup.workloadId} (driver ${type}) at site ${siteId}: ${(e as Error).message}`, { cause: e });
    }
  }
  return out;
}
