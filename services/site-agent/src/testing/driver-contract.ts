import { CommandActionSchema, WorkloadRoleSchema, type CommandAction } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { isDriverError, type ActionContext, type WorkloadDriver } from '../drivers/driver';

/**
 * The driver contract: what the agent relies on from every driver, one suite that each driver's
 * tests run unchanged against a real instance (sim, exec with real processes, postgres on a real
 * pair, libvirt on real virsh).
 */
export interface ContractSubject {
  driver: WorkloadDriver;
  /** Actions safe to run twice in a row here (each must then succeed both times). */
  idempotent: CommandAction[];
  cleanup?: () => Promise<void> | void;
}

let seq = 0;
const ctx = (over: Partial<ActionContext> = {}): ActionContext => ({ commandId: `contract-${++seq}`, epoch: 1, deadline: Date.now() + 60_000, signal: new AbortController().signal, ...over });

export function describeDriverContract(name: string, make: () => Promise<ContractSubject>): void {
  describe(`driver contract: ${name}`, () => {
    const withSubject = async (fn: (s: ContractSubject) => Promise<void>) => {
      const s = await make();
      try {
        await fn(s);
      } finally {
        await s.cleanup?.();
        await s.driver.close();
      }
    };

    it('probes without throwing, answering a known role', () =>
      withSubject(async ({ driver }) => {
        const p = await driver.probe();
        expect(WorkloadRoleSchema.options).toContain(p.role);
        expect(typeof p.healthy).toBe('boolean');
      }));

    it('says which actions it supports, and refuses the others with a DriverError', () =>
      withSubject(async ({ driver }) => {
        for (const a of driver.capabilities) expect(CommandActionSchema.options).toContain(a);
        const unsupported = CommandActionSchema.options.find((a) => !driver.capabilities.has(a));
        if (!unsupported) return;
        const e = await driver.execute(unsupported, {}, ctx()).catch((x: unknown) => x);
        expect(isDriverError(e), String(e)).toBe(true);
      }));

    it('does nothing once the deadline has passed', () =>
      withSubject(async ({ driver, idempotent }) => {
        const action = idempotent[0] ?? [...driver.capabilities][0];
        if (!action) return;
        const before = await driver.probe();
        const e = await driver.execute(action, {}, ctx({ deadline: Date.now() - 1 })).catch((x: unknown) => x);
        expect(isDriverError(e), String(e)).toBe(true);
        expect((await driver.probe()).role).toBe(before.role);
      }));

    it('carries out each idempotent action twice in a row without failing', () =>
      withSubject(async ({ driver, idempotent }) => {
        for (const a of idempotent) {
          await driver.execute(a, {}, ctx());
          await driver.execute(a, {}, ctx());
        }
      }));
  });
}
