import { z } from 'zod';
import { EpochMsSchema, SiteIdSchema } from './ids';

export const SiteStatusSchema = z.enum(['unknown', 'up', 'suspect', 'lost']);
export type SiteStatus = z.infer<typeof SiteStatusSchema>;

export const SiteViewSchema = z.strictObject({
  siteId: SiteIdSchema,
  name: z.string().optional(),
  status: SiteStatusSchema,
  priority: z.number().int().nonnegative(),
  agentId: z.string().optional(),
  lastHeartbeatAt: EpochMsSchema.optional(),
  leaseExpiresAt: EpochMsSchema.optional(),
  /** Which other sites say they can reach this one. */
  witnesses: z.record(z.string(), z.boolean()).default({}),
});
export type SiteView = z.infer<typeof SiteViewSchema>;
