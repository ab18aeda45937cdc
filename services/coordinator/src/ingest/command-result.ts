import type { CommandAction, CommandResult, FieldIssue } from '@drc/contracts';

/** What the coordinator sent: the command a result claims to answer. */
export interface SentCommand {
  commandId: string;
  siteId: string;
  action: CommandAction;
  epoch: number;
}

export type ResultVerdict = { ok: true } | { ok: false; reason: string; issues: FieldIssue[] };

/**
 * Pure. Whether a command result may count as the answer to the command it names (invariant 1:
 * a fence result counts only from the site the fence was sent to). `fromSite` is the site of the
 * subject the result came on (its credentials), never the body's word; `sent` is the pending
 * command with that id in the result's workload, if any. Command ids are predictable, so knowing
 * one proves nothing: the result must come from the command's site, for its action and epoch.
 */
export function checkCommandResult(msg: CommandResult, fromSite: string, sent: SentCommand | undefined): ResultVerdict {
  if (!sent) {
    return { ok: false, reason: `no pending command "${msg.commandId}" for ${msg.workloadId} (unknown, stale epoch ${msg.epoch}, or already answered)`, issues: [{ path: 'commandId', message: 'not pending' }] };
  }
  if (fromSite !== sent.siteId) {
    return {
      ok: false,
      reason: `command "${sent.commandId}" was sent to site "${sent.siteId}"; a result from site "${fromSite}" does not answer it`,
      issues: [{ path: 'siteId', message: `not the command's site (${sent.siteId})` }],
    };
  }
  if (msg.action !== sent.action) {
    return { ok: false, reason: `result for action "${msg.action}" does not answer command "${sent.commandId}", a "${sent.action}"`, issues: [{ path: 'action', message: `not the command's action (${sent.action})` }] };
  }
  if (msg.epoch !== sent.epoch) {
    return { ok: false, reason: `result at epoch ${msg.epoch} does not answer command "${sent.commandId}", sent at epoch ${sent.epoch}`, issues: [{ path: 'epoch', message: `not the command's epoch (${sent.epoch})` }] };
  }
  return { ok: true };
}
