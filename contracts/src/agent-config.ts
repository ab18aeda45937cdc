import { z } from 'zod';
import { SiteIdSchema } from './ids';
import { safeParseWith, type ParseResult } from './validation';

/**
 * A site agent's own configuration file (`--agent-config`), for installs where the agent runs
 * as a service: which site it serves, where the estate configuration is, and its local
 * settings. Command-line flags override it; secrets (NATS passwords, creds) stay in the
 * environment, never in this file.
 */
export const AgentConfigSchema = z.strictObject({
  site: SiteIdSchema,
  agentId: z.string().min(1).max(128).optional(),
  /** The estate configuration (sites, workloads, drivers); relative paths are from this file. */
  config: z.string().min(1),
  nats: z
    .strictObject({
      url: z.string().min(1).optional(),
      prefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, { message: 'expected dot-separated tokens of letters, digits, _ and -' }).optional(),
    })
    .default({}),
  heartbeatMs: z.number().int().positive({ message: 'expected a positive number of milliseconds' }).default(1000),
  leaseTtlMs: z.number().int().positive({ message: 'expected a positive number of milliseconds' }).default(3000),
  /** Durable memory of epochs and command results. */
  stateDir: z.string().min(1).optional(),
  witness: z
    .strictObject({
      /** HOST:PORT or PORT where this agent answers the other agents' probes. */
      listen: z.union([z.string().regex(/^(?:.+:)?\d{1,5}$/, { message: 'expected HOST:PORT or PORT' }), z.number().int().min(1).max(65535)]).optional(),
      /** Other sites' witness URLs as seen from here (overrides their `witnessUrl`). */
      peers: z.record(SiteIdSchema, z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' })).default({}),
    })
    .default({ peers: {} }),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/** Pure. Validates an agent config document; the issues name every bad field. */
export function parseAgentConfig(input: unknown): ParseResult<AgentConfig> {
  return safeParseWith(AgentConfigSchema, input);
}
