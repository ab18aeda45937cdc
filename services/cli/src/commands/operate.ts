import { randomUUID } from 'node:crypto';
import type { OperatorCommandName } from '@drc/contracts';
import { Argument, Option, type Command } from 'commander';
import type { ApiClient, CommandFollow } from '../api-client';
import { EXIT } from '../exit-codes';
import { colour, stateColour } from '../output';
import { clientFor, printJson, withApiOptions, type ApiOptions } from './api-options';

interface OperateOptions extends ApiOptions {
  wait: boolean;
  timeout: string;
  reason?: string;
  to?: string;
  idempotencyKey?: string;
}

/**
 * Not pure: polls the command until its workload settles (protected, failedOver, paused,
 * escalated, awaiting approval) or `timeoutMs` passes, printing each new state on stderr.
 */
export async function followCommand(api: ApiClient, commandId: string, timeoutMs: number, progress: (s: string) => void): Promise<CommandFollow> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const status = await api.commandStatus(commandId);
    const state = status.workloadState ?? '?';
    if (state !== last) {
      progress(state);
      last = state;
    }
    // Give the workload a moment to leave its pre-command state before trusting "settled".
    if (status.settled && status.status !== 'pending') return status;
    if (Date.now() > deadline) return status;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Sends one operator command and reports; sets process.exitCode (1 when rejected or not settled). */
async function operate(workloadId: string, command: OperatorCommandName, opts: OperateOptions): Promise<void> {
  const api = clientFor(opts);
  const outcome = await api.command(
    workloadId,
    { command, ...(opts.to !== undefined ? { targetSite: opts.to } : {}), ...(opts.reason !== undefined ? { reason: opts.reason } : {}) },
    opts.idempotencyKey ?? randomUUID(),
  );
  if (!outcome.accepted) {
    if (opts.json) printJson({ accepted: false, state: outcome.state, reason: outcome.reason, commandId: outcome.commandId });
    else process.stderr.write(`${colour('red', 'rejected')}: ${outcome.reason} (state: ${outcome.state ?? '?'})\n`);
    process.exitCode = EXIT.failed;
    return;
  }
  const { record } = outcome;
  if (!opts.json) process.stderr.write(`${command} ${workloadId}: ${colour('green', 'accepted')} as ${record.commandId} → ${colour(stateColour(record.state ?? ''), record.state ?? '?')}\n`);
  if (!opts.wait) {
    if (opts.json) printJson({ accepted: true, command: record });
    return;
  }
  const timeoutMs = Number(opts.timeout) * 1000;
  const final = await followCommand(api, record.commandId, Number.isFinite(timeoutMs) ? timeoutMs : 300_000, (s) => {
    if (!opts.json) process.stderr.write(`  … ${colour(stateColour(s), s)}\n`);
  });
  if (opts.json) printJson({ accepted: true, command: final });
  else process.stdout.write(`${workloadId}: ${colour(stateColour(final.workloadState ?? ''), final.workloadState ?? '?')}${final.settled ? '' : ' (still moving; timed out waiting)'}\n`);
  if (!final.settled || /escalated/.test(final.workloadState ?? '')) process.exitCode = EXIT.failed;
}

function operatorCommand(program: Command, name: string, description: string): Command {
  return withApiOptions(program.command(name).argument('<workload>').description(description))
    .option('--reason <text>', 'why (recorded with the command)')
    .option('--no-wait', 'return once the command is accepted, without following it')
    .option('--timeout <seconds>', 'how long to follow the command', '300')
    .option('--idempotency-key <key>', 'retry-safe key (default: a new one per call)');
}

/** `drc failover|switchover|failback|reprotect|approve|reject|pause|resume|acknowledge ID`, `drc drill ID start|cleanup`. */
export function registerOperateCommands(program: Command): void {
  operatorCommand(program, 'failover', 'unplanned failover to a replica (the best one, or --to SITE)')
    .option('--to <site>', 'target site')
    .action((id: string, opts: OperateOptions) => operate(id, 'failover', opts));
  operatorCommand(program, 'switchover', 'planned, zero-data-loss move of the primary role to --to SITE')
    .addOption(new Option('--to <site>', 'target site').makeOptionMandatory())
    .action((id: string, opts: OperateOptions) => operate(id, 'switchover', opts));
  operatorCommand(program, 'failback', 'planned move back to the original primary site').action((id: string, opts: OperateOptions) => operate(id, 'failback', opts));
  operatorCommand(program, 'reprotect', 'turn the old primary into a replica and resync').action((id: string, opts: OperateOptions) => operate(id, 'reprotect', opts));
  operatorCommand(program, 'approve', 'approve a pending failover').action((id: string, opts: OperateOptions) => operate(id, 'approve', opts));
  operatorCommand(program, 'reject', 'reject a pending failover').action((id: string, opts: OperateOptions) => operate(id, 'reject', opts));
  operatorCommand(program, 'pause', 'maintenance: observe, never act').action((id: string, opts: OperateOptions) => operate(id, 'pause', opts));
  operatorCommand(program, 'resume', 'leave maintenance').action((id: string, opts: OperateOptions) => operate(id, 'resume', opts));
  operatorCommand(program, 'acknowledge', 'acknowledge an escalation').action((id: string, opts: OperateOptions) => operate(id, 'acknowledge', opts));
  operatorCommand(program, 'drill', 'DR test on a replica copy, in parallel with production: start or cleanup')
    .addArgument(new Argument('<action>', 'start or cleanup').choices(['start', 'cleanup']))
    .option('--to <site>', 'site to run the drill on')
    .action((id: string, action: string, opts: OperateOptions) => operate(id, action === 'start' ? 'drillStart' : 'drillCleanup', opts));
}
