import type { Command } from 'commander';
import { registerAuditCommand } from './audit';
import { registerConfigCommand } from './config';
import { registerHistoryCommands } from './history';
import { registerReplayCommands } from './replay';
import { registerStatechartCommand } from './statechart';
import { registerOperateCommands } from './operate';
import { registerPlanCommands } from './plan';
import { registerProjectionCommands } from './projections';
import { registerStatusCommand } from './status';
import { registerWatchCommand } from './watch';
import { registerWorkloadCommands } from './workloads';

/** Every `drc` subcommand is registered here, once. */
export function registerCommands(program: Command): void {
  registerConfigCommand(program);
  registerStatusCommand(program);
  registerWorkloadCommands(program);
  registerHistoryCommands(program);
  registerOperateCommands(program);
  registerPlanCommands(program);
  registerWatchCommand(program);
  registerAuditCommand(program);
  registerReplayCommands(program);
  registerProjectionCommands(program);
  registerStatechartCommand(program);
}
