import type { Observation, WorkloadInput, WorkloadObservation, WorkloadView } from '@drc/contracts';

interface Latest {
  obs: WorkloadObservation;
  at: number;
}

interface Fed {
  role: string;
  healthy: boolean;
  aboveRpo: boolean;
  position?: string | undefined;
  lagSeconds?: number | undefined;
  at: number;
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
  private readonly latest = new Map<string, Map<string, Latest>>();
  private readonly fed = new Map<string, Map<string, Fed>>();
  private readonly primaryDown = new Map<string, boolean>();

  constructor(private readonly opts: { refreshMs: number }) {}

  /** Inputs caused by one observation message. `viewOf` gives each workload's current view. */
  observe(msg: Observation, receivedAt: number, viewOf: (workloadId: string) => WorkloadView | undefined): WorkloadInputFor[] {
    const out: WorkloadInputFor[] = [];
    for (const w of msg.workloads) {
      const view = viewOf(w.workloadId);
      if (!view) continue;
      let bySite = this.latest.get(w.workloadId);
      if (!bySite) this.latest.set(w.workloadId, (bySite = new Map()));
      bySite.set(msg.siteId, { obs: w, at: receivedAt });

      const isPrimarySite = msg.siteId === view.primarySite;
      if (isPrimarySite) {
        const down = !w.healthy || (w.role !== 'primary' && w.role !== 'unknown');
        const wasDown = this.primaryDown.get(w.workloadId) ?? false;
        if (down && !wasDown) {
          out.push(...this.freshReplicaInputs(w.workloadId, msg.siteId, receivedAt, view));
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
        } else if (!down && wasDown) {
          out.push({ workloadId: w.workloadId, input: { type: 'PRIMARY_RECOVERED', at: receivedAt, siteId: msg.siteId } });
        }
        this.primaryDown.set(w.workloadId, down);
      }
      const status = this.statusInput(w.workloadId, msg.siteId, w, receivedAt, view, false);
      if (status) out.push(status);
    }
    return out;
  }

  /** The site's workload went through a failover: forget the primary's down flag. */
  resetPrimary(workloadId: string): void {
    this.primaryDown.delete(workloadId);
  }

  /** The primary's site was declared lost: a healthy report from it later means it recovered. */
  markPrimaryDown(workloadId: string): void {
    this.primaryDown.set(workloadId, true);
  }

  /** REPLICA_STATUS inputs for every other site whose latest facts were not recorded yet. */
  freshReplicaInputs(workloadId: string, excludeSite: string, at: number, view: WorkloadView): WorkloadInputFor[] {
    const out: WorkloadInputFor[] = [];
    for (const [siteId, l] of this.latest.get(workloadId) ?? []) {
      if (siteId === excludeSite) continue;
      const s = this.statusInput(workloadId, siteId, l.obs, at, view, true);
      if (s) out.push(s);
    }
    return out;
  }

  private statusInput(workloadId: string, siteId: string, w: WorkloadObservation, at: number, view: WorkloadView, force: boolean): WorkloadInputFor | undefined {
    let bySite = this.fed.get(workloadId);
    if (!bySite) this.fed.set(workloadId, (bySite = new Map()));
    const prev = bySite.get(siteId);
    const lag = w.replication?.lagSeconds;
    const aboveRpo = lag !== undefined && lag > view.policy.rpoSeconds;
    const changedMeaning = !prev || prev.role !== w.role || prev.healthy !== w.healthy || prev.aboveRpo !== aboveRpo;
    const moved = prev !== undefined && (prev.position !== w.replication?.position || prev.lagSeconds !== lag);
    const due = prev !== undefined && at - prev.at >= this.opts.refreshMs;
    if (!changedMeaning && !(moved && (due || force))) return undefined;
    // The first record of a copy is dated back by a fixed share of the refresh period (from the
    // workload and site names), so that thousands of copies first seen together do not all come
    // due in the same second every period: the refreshes spread evenly instead of arriving as
    // one burst of appends that failure reports would queue behind.
    const recordedAt = prev ? at : at - spread(`${workloadId}/${siteId}`, this.opts.refreshMs);
    bySite.set(siteId, { role: w.role, healthy: w.healthy, aboveRpo, position: w.replication?.position, lagSeconds: lag, at: recordedAt });
    return {
      workloadId,
      input: {
        type: 'REPLICA_STATUS',
        at,
        siteId,
        healthy: w.healthy,
        role: w.role,
        ...(w.replication ? { position: w.replication.position, lagSeconds: w.replication.lagSeconds } : {}),
      },
    };
  }
}
