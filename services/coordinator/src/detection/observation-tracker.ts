import type { Observation, WorkloadInput, WorkloadRole, WorkloadView } from '@drc/contracts';

/**
 * One copy of a workload at one site: the facts its agent last reported, and the facts last
 * recorded in the workload's stream. Kept in place and overwritten field by field: holding on to
 * each message's own objects for the second until the next one would move 20,000 of them a
 * second into V8's old generation (they outlive two young-generation collections), which then
 * fills with dead copies and costs full collections in the middle of decisions.
 */
interface CopySlot {
  readonly siteId: string;
  role: WorkloadRole;
  healthy: boolean;
  hasReplication: boolean;
  position: string | undefined;
  lagSeconds: number | undefined;
  /** Whether anything was recorded for this copy yet; the fed* fields are meaningless before. */
  fed: boolean;
  fedRole: WorkloadRole;
  fedHealthy: boolean;
  fedAboveRpo: boolean;
  fedPosition: string | undefined;
  fedLagSeconds: number | undefined;
  fedAt: number;
}

/** Everything the tracker keeps for one workload (one lookup per copy per message). */
interface WorkloadSlots {
  primaryDown: boolean;
  /** In the order the sites were first heard of (the order fresh replica facts are recorded in). */
  copies: CopySlot[];
}

/** Pure. A stable offset in [0, period) from a name (FNV-1a). */
function spread(name: string, period: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h % Math.max(1, period);
}

export interface WorkloadInputFor {
  workloadId: string;
  input: WorkloadInput;
}

/**
 * Turns the agents' continuous observations into the few inputs that change meaning
 * (primary failed/recovered, a copy's role or health changed, lag crossed the RPO), so the
 * stream records changes, not every sample; positions are refreshed at most every
 * `refreshMs`, and always just before a failure is reported, so the decision sees (and the
 * stream records) the freshest replica facts. Keeps state; takes time as an argument.
 */
export class ObservationTracker {
  private readonly workloads = new Map<string, WorkloadSlots>();

  constructor(private readonly opts: { refreshMs: number }) {}

  /**
   * Inputs caused by one observation message. `viewOf` gives each workload's current view (its
   * second argument is the copy's index in the message, for a caller that resolved them already).
   */
  observe(msg: Observation, receivedAt: number, viewOf: (workloadId: string, index: number) => WorkloadView | undefined): WorkloadInputFor[] {
    const out: WorkloadInputFor[] = [];
    const copies = msg.workloads;
    for (let i = 0; i < copies.length; i++) {
      const w = copies[i]!;
      const view = viewOf(w.workloadId, i);
      if (!view) continue;
      let slots = this.workloads.get(w.workloadId);
      if (!slots) this.workloads.set(w.workloadId, (slots = { primaryDown: false, copies: [] }));
      const slot = slotOf(slots, msg.siteId);
      slot.role = w.role;
      slot.healthy = w.healthy;
      slot.hasReplication = w.replication !== undefined;
      slot.position = w.replication?.position;
      slot.lagSeconds = w.replication?.lagSeconds;

      if (msg.siteId === view.primarySite) {
        const down = !w.healthy || (w.role !== 'primary' && w.role !== 'unknown');
        if (down && !slots.primaryDown) {
          this.pushFreshReplicaInputs(out, w.workloadId, slots, msg.siteId, receivedAt, view);
          out.push({
            workloadId: w.workloadId,
            input: {
              type: 'PRIMARY_FAILED',
              at: receivedAt,
              siteId: msg.siteId,
              reason: w.role === 'stopped' ? 'stopped' : 'unhealthy',
              evidence: [`agent ${msg.agentId} reports ${w.workloadId} at ${msg.siteId}: role ${w.role}, ${w.healthy ? 'healthy' : 'unhealthy'}${w.detail ? ` (${w.detail})` : ''}`],
            },
          });
        } else if (!down && slots.primaryDown) {
          out.push({ workloadId: w.workloadId, input: { type: 'PRIMARY_RECOVERED', at: receivedAt, siteId: msg.siteId } });
        }
        slots.primaryDown = down;
      }
      const status = this.statusInput(w.workloadId, slot, receivedAt, view, false);
      if (status) out.push(status);
    }
    return out;
  }

  /** The site's workload went through a failover: forget the primary's down flag. */
  resetPrimary(workloadId: string): void {
    const slots = this.workloads.get(workloadId);
    if (slots) slots.primaryDown = false;
  }

  /** The primary's site was declared lost: a healthy report from it later means it recovered. */
  markPrimaryDown(workloadId: string): void {
    let slots = this.workloads.get(workloadId);
    if (!slots) this.workloads.set(workloadId, (slots = { primaryDown: false, copies: [] }));
    slots.primaryDown = true;
  }

  /** REPLICA_STATUS inputs for every other site whose latest facts were not recorded yet. */
  freshReplicaInputs(workloadId: string, excludeSite: string, at: number, view: WorkloadView): WorkloadInputFor[] {
    const out: WorkloadInputFor[] = [];
    const slots = this.workloads.get(workloadId);
    if (slots) this.pushFreshReplicaInputs(out, workloadId, slots, excludeSite, at, view);
    return out;
  }

  private pushFreshReplicaInputs(out: WorkloadInputFor[], workloadId: string, slots: WorkloadSlots, excludeSite: string, at: number, view: WorkloadView): void {
    for (const slot of slots.copies) {
      if (slot.siteId === excludeSite) continue;
      const s = this.statusInput(workloadId, slot, at, view, true);
      if (s) out.push(s);
    }
  }

  private statusInput(workloadId: string, slot: CopySlot, at: number, view: WorkloadView, force: boolean): WorkloadInputFor | undefined {
    const lag = slot.lagSeconds;
    const aboveRpo = lag !== undefined && lag > view.policy.rpoSeconds;
    const changedMeaning = !slot.fed || slot.fedRole !== slot.role || slot.fedHealthy !== slot.healthy || slot.fedAboveRpo !== aboveRpo;
    const moved = slot.fed && (slot.fedPosition !== slot.position || slot.fedLagSeconds !== lag);
    const due = slot.fed && at - slot.fedAt >= this.opts.refreshMs;
    // A copy that says it is writable at a site that is not the primary's (invariant 1): the machine
    // must hear it whenever its record of the copy says otherwise, although this tracker fed that
    // role before (an old primary back after a failover that recorded it `fenced`, while the last
    // thing fed from it was `primary`, from before), and again every refresh period while it lasts,
    // so that a fence that did not take is sent again. Only from a report just received (not when
    // remembered readings are re-sent with `force`): a dark site's last report from before it went
    // dark says nothing about a writable copy now, and raised a false alarm and a fence.
    const rogue = !force && slot.role === 'primary' && slot.siteId !== view.primarySite && (due || recordedRole(view, slot.siteId) !== 'primary');
    // A planned switchover waits in syncing until its target reports lag 0: that reading is taken
    // at once, not at the next refresh (30 s by default, the verify timeout's own default, so the
    // switchover aborted as "did not catch up" whenever the target's last recorded lag was not 0).
    const caughtUp = view.state === 'switchingOver.syncing' && lag === 0 && slot.fed && slot.fedLagSeconds !== 0;
    if (!changedMeaning && !(moved && (due || force)) && !rogue && !caughtUp) return undefined;
    // The first record of a copy is dated back by a fixed share of the refresh period (from the
    // workload and site names), so that thousands of copies first seen together do not all come
    // due in the same second every period: the refreshes spread evenly instead of arriving as
    // one burst of appends that failure reports would queue behind.
    slot.fedAt = slot.fed ? at : at - spread(`${workloadId}/${slot.siteId}`, this.opts.refreshMs);
    slot.fed = true;
    slot.fedRole = slot.role;
    slot.fedHealthy = slot.healthy;
    slot.fedAboveRpo = aboveRpo;
    slot.fedPosition = slot.position;
    slot.fedLagSeconds = lag;
    return {
      workloadId,
      input: {
        type: 'REPLICA_STATUS',
        at,
        siteId: slot.siteId,
        healthy: slot.healthy,
        role: slot.role,
        ...(slot.hasReplication ? { position: slot.position!, lagSeconds: slot.lagSeconds! } : {}),
      },
    };
  }
}

/** Pure. The role the workload's view records for the copy at a site. */
function recordedRole(view: WorkloadView, siteId: string): WorkloadRole | undefined {
  for (const r of view.replicas) if (r.siteId === siteId) return r.role;
  return undefined;
}

/** The slot of one site's copy, made on first report (sites keep the order they were first heard in). */
function slotOf(slots: WorkloadSlots, siteId: string): CopySlot {
  for (const c of slots.copies) if (c.siteId === siteId) return c;
  const c: CopySlot = { siteId, role: 'unknown', healthy: false, hasReplication: false, position: undefined, lagSeconds: undefined, fed: false, fedRole: 'unknown', fedHealthy: false, fedAboveRpo: false, fedPosition: undefined, fedLagSeconds: undefined, fedAt: 0 };
  slots.copies.push(c);
  return c;
}
