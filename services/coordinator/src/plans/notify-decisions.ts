import type { Decision } from '@drc/contracts';
import type { Notifier } from './notifier';

/** Tells operators' systems about failovers, approvals and rogue primaries (after they are recorded). */
export function notifyDecisions(notifier: Notifier, workloadId: string, decisions: ReadonlyArray<Decision>, at: number): void {
  for (const d of decisions) {
    if (d.type === 'FailoverStarted') notifier.notify('failover.started', { workloadId, mode: d.mode, fromSite: d.fromSite, reason: d.reason, actor: d.actor ?? null }, at);
    else if (d.type === 'FailoverCompleted') notifier.notify('failover.completed', { workloadId, fromSite: d.fromSite, toSite: d.toSite, epoch: d.epoch, rtoMs: d.rtoMs, dataLossSeconds: d.dataLossSeconds ?? null }, at);
    else if (d.type === 'ApprovalRequired') notifier.notify('approval.required', { workloadId, reason: d.reason, candidate: d.candidate ?? null }, at);
    else if (d.type === 'RoguePrimaryDetected') notifier.notify('primary.rogue', { workloadId, siteId: d.siteId, epoch: d.epoch, evidence: d.evidence }, at);
  }
}
