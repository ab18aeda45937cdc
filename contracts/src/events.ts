import { z } from 'zod';
import { EpochMsSchema } from './ids';
import { ActorSchema } from './workload';

/**
 * Metadata on every stored event. The event store adds the stream position, global
 * position, recorded time and the hash chain; the writer supplies the rest.
 */
export const EventMetadataSchema = z.strictObject({
  correlationId: z.string().min(1).max(200),
  causationId: z.string().min(1).max(200).optional(),
  actor: ActorSchema,
  coordinatorId: z.string().min(1).max(128),
  /** The coordinator's leadership epoch when it appended. */
  leaderEpoch: z.number().int().nonnegative(),
  /** Version of the statechart that produced the decision (replay uses the same one). */
  statechartVersion: z.string().min(1).max(64),
  traceId: z.string().max(64).optional(),
  /** The workload's state value after the input this event belongs to was processed. */
  stateAfter: z.string().optional(),
  /** The recorded time of the input (the machine's notion of now). */
  at: EpochMsSchema.optional(),
});
export type EventMetadata = z.infer<typeof EventMetadataSchema>;
