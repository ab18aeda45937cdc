import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandAction, WorkloadRole } from '@drc/contracts';
import { z } from 'zod';
import { DriverError, type ActionContext, type ActionOutcome, type DriverFactory, type ProbeResult, type WorkloadDriver } from '../driver';

/** Settings of the simulated driver (per workload, merged with per-site settings). */
export const SimSettingsSchema = z.strictObject({
  /** Replication lag this copy reports while it is a replica (seconds). */
  lagSeconds: z.number().nonnegative().default(0.2),
  /** The copy becomes unhealthy this long after the agent starts (ms): a scripted failure. */
  failAfterMs: z.number().int().positive().optional(),
  /** How long each action takes (ms). */
  actionDelayMs: z.number().int().nonnegative().default(20),
  /**
   * A JSON file read at every probe, `{"healthy": false, "detail": "...", "lagSeconds": 3}`:
   * lets a test or a demo make this copy fail, flap or lag from outside the agent process.
   * Test fault injection: `"stallProbe": {"id": "x", "ms": 2000}` makes one probe hang for
   * `ms` (once per distinct id), as a health check that times out once on a healthy copy.
   */
  controlFile: z.string().min(1).optional(),
});
export type SimSettings = z.infer<typeof SimSettingsSchema>;

const ALL: CommandAction[] = ['fence', 'unfence', 'promote', 'demote', 'reprotect', 'quiesce', 'start', 'stop', 'redirect', 'snapshot', 'drillStart', 'drillCleanup'];

/** Runtime controls of a simulated copy (tests and the demo inject failures with them). */
export interface SimControls {
  setHealthy(healthy: boolean, detail?: string): void;
  setLag(seconds: number): void;
  failNextActions(n: number, reason?: string): void;
  readonly role: WorkloadRole;
  readonly actionCounts: Readonly<Record<string, number>>;
  readonly drill: boolean;
}

/**
 * A simulated workload copy. Positions are consistent across agent processes without any
 * talk between them: a primary is at "now" (ms since the epoch), a replica at now − lag.
 * Clearly a simulator: it runs nothing, but obeys fence/promote/reprotect like a real copy.
 */
export class SimDriver implements WorkloadDriver, SimControls {
  readonly type = 'sim' as const;
  readonly capabilities: ReadonlySet<CommandAction> = new Set(ALL);
  private _role: WorkloadRole;
  private healthy = true;
  private detail: string | undefined;
  private lag: number;
  private failures = 0;
  private failReason = 'injected failure';
  private frozenAt: number | undefined;
  private counts: Record<string, number> = {};
  private drillRunning = false;
  private readonly startedAt = Date.now();

  private upstreamSite: string | undefined;
  private stalledProbeIds = new Set<string>();
  private pendingProbeStallMs = 0;

  constructor(
    configuredRole: 'primary' | 'replica',
    private readonly settings: SimSettings,
    private readonly peerLastHeard: (siteId: string) => number | undefined = () => undefined,
    upstreamSite?: string,
    /** Test instrumentation: a file this copy rewrites with its role at every change (see createSimDriver). */
    private readonly testRoleFile?: string,
  ) {
    this._role = configuredRole;
    this.reportRoleForTests();
    this.lag = settings.lagSeconds;
    this.upstreamSite = configuredRole === 'replica' ? upstreamSite : undefined;
  }

  /**
   * Test instrumentation: the e2e split-brain watcher reads every simulated copy's role from
   * outside the agent at 10 Hz or more. Written (atomically, with this process's pid, so a copy whose
   * agent died counts as gone) before the action that changed it is answered. A quiesced
   * primary keeps its role but takes no writes.
   */
  private reportRoleForTests(): void {
    if (!this.testRoleFile) return;
    const tmp = `${this.testRoleFile}.${process.pid}.tmp`;
    const writable = this._role === 'primary' && this.frozenAt === undefined;
    writeFileSync(tmp, JSON.stringify({ role: this._role, writable, pid: process.pid, at: Date.now() }));
    renameSync(tmp, this.testRoleFile);
  }

  private setRole(role: WorkloadRole): void {
    this._role = role;
    this.reportRoleForTests();
  }

  get role(): WorkloadRole {
    return this._role;
  }
  get actionCounts(): Readonly<Record<string, number>> {
    return this.counts;
  }
  get drill(): boolean {
    return this.drillRunning;
  }
  setHealthy(healthy: boolean, detail?: string): void {
    this.healthy = healthy;
    this.detail = detail;
  }
  setLag(seconds: number): void {
    this.lag = seconds;
  }
  failNextActions(n: number, reason = 'injected failure'): void {
    this.failures = n;
    this.failReason = reason;
  }

  /** Applies the control file, if any (a missing or half-written file changes nothing). */
  private readControl(): void {
    if (!this.settings.controlFile) return;
    let c: { healthy?: unknown; detail?: unknown; lagSeconds?: unknown; stallProbe?: { id?: unknown; ms?: unknown } };
    try {
      c = JSON.parse(readFileSync(this.settings.controlFile, 'utf8')) as typeof c;
    } catch {
      return;
    }
    if (typeof c.healthy === 'boolean') this.setHealthy(c.healthy, typeof c.detail === 'string' ? c.detail : c.healthy ? undefined : 'unhealthy (control file)');
    if (typeof c.lagSeconds === 'number' && c.lagSeconds >= 0) this.lag = c.lagSeconds;
    const stall = c.stallProbe;
    if (stall && typeof stall.id === 'string' && typeof stall.ms === 'number' && !this.stalledProbeIds.has(stall.id)) {
      this.stalledProbeIds.add(stall.id);
      this.pendingProbeStallMs = stall.ms;
    }
  }

  async probe(): Promise<ProbeResult> {
    this.readControl();
    if (this.pendingProbeStallMs > 0) {
      const ms = this.pendingProbeStallMs;
      this.pendingProbeStallMs = 0;
      await new Promise((r) => setTimeout(r, ms)); // test fault injection: one probe hangs
    }
    const now = Date.now();
    const scripted = this.settings.failAfterMs !== undefined && now - this.startedAt >= this.settings.failAfterMs;
    const healthy = this.healthy && !scripted && this._role !== 'stopped';
    // A replica cannot be ahead of what it last received from its upstream: when the upstream
    // site goes dark, every replica of it stops at the same position, as real ones do.
    const heard = this.upstreamSite !== undefined ? this.peerLastHeard(this.upstreamSite) : undefined;
    const replicaAt = heard !== undefined ? Math.min(now - Math.round(this.lag * 1000), heard) : now - Math.round(this.lag * 1000);
    const position = this.frozenAt ?? (this._role === 'replica' ? replicaAt : now);
    return {
      role: this._role,
      healthy,
      ...(healthy ? {} : { detail: this.detail ?? (scripted ? 'scripted failure (failAfterMs)' : `copy is ${this._role}`) }),
      replication: {
        position: String(Math.max(0, position)),
        lagSeconds: this._role === 'replica' ? this.lag : 0,
        lagBytes: this._role === 'replica' ? Math.round(this.lag * 1_000_000) : 0,
      },
    };
  }

  async execute(action: CommandAction, params: Record<string, unknown>, ctx?: ActionContext): Promise<ActionOutcome> {
    if (ctx && (ctx.signal.aborted || Date.now() > ctx.deadline)) throw new DriverError(`${action}: deadline passed before it started`);
    this.counts[action] = (this.counts[action] ?? 0) + 1;
    if (this.settings.actionDelayMs > 0) await new Promise((r) => setTimeout(r, this.settings.actionDelayMs));
    if (this.failures > 0) {
      this.failures--;
      throw new DriverError(`${action}: ${this.failReason}`);
    }
    const now = Date.now();
    switch (action) {
      case 'fence':
      case 'stop':
        if (this._role === 'primary') this.frozenAt = now; // writes stop: the position stops moving
        this.setRole(action === 'fence' ? 'fenced' : 'stopped');
        return { detail: { role: this._role } };
      case 'unfence':
      case 'start':
        if (this._role === 'fenced' || this._role === 'stopped') this._role = this.frozenAt !== undefined ? 'primary' : 'replica';
        this.frozenAt = undefined;
        this.reportRoleForTests();
        return { detail: { role: this._role } };
      case 'promote':
        this.upstreamSite = undefined;
        this.frozenAt = undefined;
        this.setRole('primary');
        this.healthy = true;
        return { detail: { role: 'primary', position: String(now) } };
      case 'demote':
      case 'reprotect':
        this.upstreamSite = typeof params.upstreamSite === 'string' ? params.upstreamSite : this.upstreamSite;
        this.frozenAt = undefined;
        this.setRole('replica');
        this.healthy = true;
        return { detail: { role: 'replica', upstreamSite: params.upstreamSite ?? null } };
      case 'drillStart':
        this.drillRunning = true;
        return { detail: { drill: 'running', check: 'passed' } };
      case 'drillCleanup':
        this.drillRunning = false;
        return { detail: { drill: 'removed' } };
      case 'quiesce':
        if (this._role === 'primary') this.frozenAt = now;
        this.reportRoleForTests();
        return { detail: { quiesced: true } };
      case 'redirect':
      case 'snapshot':
        return { detail: { [action]: 'done' } };
    }
  }

  async close(): Promise<void> {}
}

/** The driver factory for `driver: sim`. Throws (naming the field) on invalid settings. */
export const createSimDriver: DriverFactory = async (setup) => {
  const parsed = SimSettingsSchema.safeParse(setup.settings);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new DriverError(`workload ${setup.workloadId}: driver.settings.${i?.path.join('.') ?? ''}: ${i?.message ?? 'invalid'}`);
  }
  const upstream = setup.peers.find((p) => p.role === 'primary')?.siteId;
  // Test instrumentation (e2e split-brain watcher): DRC_SIM_TEST_ROLE_DIR names a directory
  // where each simulated copy keeps `<workload>@<site>.json` with its current role.
  const roleDir = process.env.DRC_SIM_TEST_ROLE_DIR;
  const roleFile = roleDir ? join(roleDir, `${setup.workloadId}@${setup.siteId}.json`) : undefined;
  return new SimDriver(setup.configuredRole, parsed.data, setup.peerLastHeard, upstream, roleFile);
};
