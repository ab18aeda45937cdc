import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * A structured JSON logger (pino) for a service. Level from LOG_LEVEL (default info).
 * Bind workload, site, epoch and correlation ids with `logger.child({...})`.
 */
export function createLogger(service: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    name: service,
    level: process.env.LOG_LEVEL ?? 'info',
    base: { service, pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
