import type { Command } from 'commander';
import { registerAuditCommand } from './audit';
import { registerConfigCommand } from './config';
import { registerReplayCommands } from './replay';
import { registerStatusCommand } from './status';

/** Every `drc` subcommand is registered here, once. */
export function registerCommands(program: Command): void {
  registerConfigCommand(program);
  registerStatusCommand(program);
  registerAuditCommand(program);
  registerReplayCommands(program);
}
