import { randomBytes } from 'node:crypto';

/** A short random token safe in subjects, stream names and database names. */
export function uniqueToken(): string {
  return randomBytes(5).toString('hex');
}

/** A unique NATS subject prefix for one test, e.g. `t_ab12cd34ef`. */
export function uniquePrefix(label = 't'): string {
  return `${label.replace(/[^A-Za-z0-9_-]/g, '_')}_${uniqueToken()}`;
}
