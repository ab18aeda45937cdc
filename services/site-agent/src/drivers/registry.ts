import type { DriverType } from '@drc/contracts';
import { DriverError, type DriverFactory } from './driver';
import { createSimDriver } from './sim/index';

/**
 * Resolves a driver factory by type. Real drivers load lazily, so an agent serving only
 * simulated workloads never loads (or needs) PostgreSQL or libvirt tooling.
 */
export async function driverFactory(type: DriverType): Promise<DriverFactory> {
  switch (type) {
    case 'sim':
      return createSimDriver;
    default: {
      const mod: Record<string, unknown> = await import(`./${type}/index`).catch(() => ({}));
      const name = `create${type[0]!.toUpperCase()}${type.slice(1)}Driver`;
      const factory = mod[name];
      if (typeof factory !== 'function') throw new DriverError(`driver "${type}" is not available in this agent`);
      return factory as DriverFactory;
    }
  }
}
