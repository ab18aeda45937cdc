import { z } from 'zod';

/** Site and workload ids appear in NATS subjects, so they are restricted to subject-safe tokens. */
export const IdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, {
    message: 'expected an id of letters, digits, "-" or "_" (1-63 characters, no dots or spaces)',
  });
export const SiteIdSchema = IdSchema;
export const WorkloadIdSchema = IdSchema;
export type SiteId = z.infer<typeof SiteIdSchema>;
export type WorkloadId = z.infer<typeof WorkloadIdSchema>;

/** Milliseconds since the Unix epoch. Time enters the system only as recorded values. */
export const EpochMsSchema = z.number().int().nonnegative();
