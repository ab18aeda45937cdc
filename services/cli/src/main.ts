/**
 * `drc`: the operator's command line. Exit codes: 0 ok, 1 failed / invalid, 2 usage, 3 API unreachable.
 */
import { Command, CommanderError } from 'commander';
import { ApiResponseError, ApiUnavailableError } from './api-client';
import { registerCommands } from './commands/index';
import { EXIT } from './exit-codes';

export function createProgram(): Command {
  const program = new Command('drc')
    .description('drc — event-sourced disaster-recovery coordinator: status, failovers, audit and replay')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerCommands(program);
  return program;
}

async function run(argv: string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof ApiUnavailableError) {
      process.stderr.write(`drc: ${e.message}\n`);
      return EXIT.unavailable;
    }
    if (e instanceof ApiResponseError) {
      process.stderr.write(`drc: ${e.message}\n`);
      return EXIT.failed;
    }
    process.stderr.write(`drc: ${(e as Error).message}\n`);
    return EXIT.failed;
  }
}

const code = await run(process.argv);
process.exit(code);
