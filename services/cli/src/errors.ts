import { CommanderError } from 'commander';
import { EXIT } from './exit-codes';

/*
 * How an error ends a `drc` run: the one table from error codes to exit codes. Errors are told
 * apart by their stable `code`, never by their message.
 */

/** Every code the CLI maps; errors from other packages (runtime's) keep their own names for the same codes. */
export type CliErrorCode = 'USAGE' | 'API_UNAVAILABLE' | 'API_ERROR' | 'DEPENDENCY_UNAVAILABLE' | 'CONFIG_INVALID';

type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const EXIT_BY_CODE: Readonly<Record<CliErrorCode, ExitCode>> = {
  USAGE: EXIT.usage,
  API_UNAVAILABLE: EXIT.unavailable,
  DEPENDENCY_UNAVAILABLE: EXIT.unavailable,
  API_ERROR: EXIT.failed,
  CONFIG_INVALID: EXIT.failed,
};

/** Bad arguments that commander could not check itself (e.g. an option required only by one subcommand). */
export class UsageError extends Error {
  readonly code = 'USAGE' as const;
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function codeOf(e: unknown): CliErrorCode | undefined {
  const code: unknown = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && Object.hasOwn(EXIT_BY_CODE, code) ? (code as CliErrorCode) : undefined;
}

/**
 * Pure. The exit code an error ends the run with, and the message to print (none for
 * commander's own errors: it has printed them). Anything without a known code fails with 1.
 */
export function exitFor(e: unknown): { exit: ExitCode; message?: string } {
  if (e instanceof CommanderError) return { exit: e.exitCode === 0 ? EXIT.ok : EXIT.usage };
  const code = codeOf(e);
  return { exit: code === undefined ? EXIT.failed : EXIT_BY_CODE[code], message: e instanceof Error ? e.message : String(e) };
}
