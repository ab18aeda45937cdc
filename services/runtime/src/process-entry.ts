import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { DrcConfig } from '@drc/contracts';
import { loadConfigFile } from './config-file';
import { isConfigError, isDependencyUnavailableError } from './errors';
import { connectNats, type NatsConnection, type NatsOptions } from './nats';

/** Exit codes shared by drc processes (systemd and supervisors rely on them). */
export const PROCESS_EXIT = { ok: 0, failed: 1, usage: 2 } as const;

type Options = NonNullable<ParseArgsConfig['options']>;

/** Not pure (prints). Parses the process arguments; on a bad one prints it with the help and returns exit code 2. */
export function parseProcessArgs<O extends Options>(options: O, help: string, argv = process.argv.slice(2)) {
  try {
    const values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } } }).values;
    if ((values as { help?: boolean }).help) {
      process.stdout.write(help);
      return { ok: false as const, exit: PROCESS_EXIT.ok as number };
    }
    return { ok: true as const, values };
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${help}`);
    return { ok: false as const, exit: PROCESS_EXIT.usage as number };
  }
}

/** Not pure (reads, prints). Loads a config file; prints every bad field and returns exit code 2 when it is invalid. */
export function loadConfigOrExit(file: string): DrcConfig | number {
  try {
    return loadConfigFile(file);
  } catch (e) {
    if (!isConfigError(e)) throw e;
    process.stderr.write(`${e.message}\n`);
    return PROCESS_EXIT.usage;
  }
}

/** Not pure. Connects to NATS; prints where it looked and how to start one, and returns exit code 1, when it cannot. */
export async function connectNatsOrExit(opts: NatsOptions): Promise<NatsConnection | number> {
  try {
    return await connectNats(opts);
  } catch (e) {
    if (!isDependencyUnavailableError(e) && !/refused our credentials/.test((e as Error).message)) throw e;
    process.stderr.write(`${(e as Error).message}\n`);
    return PROCESS_EXIT.failed;
  }
}

/** Not pure. Resolves with exit code 0 after the first SIGTERM/SIGINT, once `shutdown` has run. */
export function untilStopped(shutdown: (signal: string) => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      void shutdown(signal).finally(() => resolve(PROCESS_EXIT.ok));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  // PostgreSQL: admin shutdown, crash shutdown, cannot connect now, statement cancelled, connection exceptions.
  '57P01', '57P02', '57P03', '57014', '08000', '08003', '08006', '08001', '08004',
]);

/**
 * Pure. Whether an error nobody awaited is a connection failing: postgres.js looks up array
 * types on every new connection and drops that promise, so a connection that dies while it
 * opens (a database restarting) rejects with no one to catch it (porsager/postgres#1192).
 * Whoever needed the connection gets an error of its own and retries; the process is fine.
 */
export function isDroppedConnectionError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  return CONNECTION_ERROR_CODES.has(String((e as { code?: unknown }).code ?? ''));
}

/**
 * Not pure. Runs a process's main and exits with its code; an unexpected error is printed and
 * exits 1. So does a rejection nobody handled, unless it is a connection failing
 * (isDroppedConnectionError): that one is reported and the process goes on, and so does an
 * exception nobody caught. A process never ends without saying why: when nothing is left
 * running while main still waits (every server, connection and timer gone), Node would exit 0
 * in silence (a coordinator's API once vanished so); that is printed and exits 1.
 */
export function runProcess(name: string, main: () => Promise<number>): void {
  process.on('uncaughtException', (e: unknown) => {
    process.stderr.write(`${name} crashed: uncaught exception: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(PROCESS_EXIT.failed);
  });
  process.on('beforeExit', () => {
    process.stderr.write(`${name}: nothing is left running (no server, connection or timer) while it should still be working; exiting with ${PROCESS_EXIT.failed}\n`);
    process.exit(PROCESS_EXIT.failed);
  });
  process.on('unhandledRejection', (e: unknown) => {
    if (isDroppedConnectionError(e)) {
      process.stderr.write(`${name}: a connection failed with no caller waiting on it (${(e as { code?: unknown }).code}: ${(e as Error).message}); ignored, the calls that need it fail and retry on their own\n`);
      return;
    }
    process.stderr.write(`${name} crashed: unhandled rejection: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(PROCESS_EXIT.failed);
  });
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`${name} crashed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(PROCESS_EXIT.failed);
    },
  );
}
