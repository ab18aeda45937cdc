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

/** Not pure. Runs a process's main and exits with its code; an unexpected error is printed and exits 1. */
export function runProcess(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`${name} crashed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(PROCESS_EXIT.failed);
    },
  );
}
