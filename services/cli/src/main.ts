/**
 * `drc`: the operator's command line. Exit codes: 0 ok, 1 failed / invalid, 2 usage, 3 API unreachable.
 */
import { Command } from 'commander';
import { registerCommands } from './commands/index';
import { exitFor } from './errors';
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
    const { exit, message } = exitFor(e);
    if (message !== undefined) process.stderr.write(`drc: ${message}\n`);
    return exit;
  }
}

const code = await run(process.argv);
process.exit(code);
