import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { effectivePolicy, type DriverType, type DrcConfig, type WorkloadRole } from '@drc/contracts';
import type { Logger } from '@drc/runtime';

/**
 * The agent's watchdog (issue 17): the agent of a site can die (kill -9, crash, OOM) while its
 * site's copies keep running. The coordinator then loses the site, waits the lease out plus
 * fenceMarginMs, takes the old primary as fenced ("agents fence themselves when their lease
 * lapses") and promotes a replica; with the agent dead nobody fenced that primary. Patroni has
 * the Linux watchdog reset the node; drc has a small process of its own per agent, started
 * detached so it outlives it, that fences the site's primaries at the lease deadline unless a
 * restarted agent (a new incarnation) takes its duty over first.
 *
 * Drivers whose copies live outside the agent are watched (PostgreSQL, libvirt VMs, exec);
 * a simulated copy dies with its agent.
 */
export const WATCHED_DRIVER_TYPES: ReadonlySet<DriverType> = new Set<DriverType>(['postgres', 'libvirt', 'exec']);

/**
 * What the agent tells its watchdog (one JSON line on its stdin): a line when each heartbeat
 * round starts (alive, even when NATS is slow), and one with the lease deadline once the round
 * renewed the lease. Any line counts as a sign of life.
 */
export interface WatchdogBeat {
  /** When the lease the coordinator just got ends: the renewed heartbeat's `sentAt` + leaseTtlMs. Absent at a round's start and when the round renewed nothing. */
  leaseDeadline?: number;
  /** The role of each workload's copy here at the last observation. */
  roles?: Record<string, WorkloadRole>;
}

/** The lease file of a site: which agent run's watchdog is on duty, and until when its lease holds. */
export interface WatchdogLease {
  /** The agent incarnation whose watchdog is on duty. */
  owner: string;
  pid: number;
  leaseDeadline: number;
}

export function readLease(file: string): WatchdogLease | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<WatchdogLease>;
    return typeof v.owner === 'string' && typeof v.leaseDeadline === 'number' ? { owner: v.owner, pid: Number(v.pid), leaseDeadline: v.leaseDeadline } : undefined;
  } catch {
    return undefined;
  }
}

/** Replaces the lease file atomically (a reader never sees half of it). */
export function writeLease(file: string, lease: WatchdogLease): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(lease));
  renameSync(tmp, file);
}

export interface WatchState {
  /**
   * The lease deadline the coordinator sees for this site (as far as the agent knows): from its
   * agent's renewals, or inherited from an earlier run's watchdog. Undefined: no lease held yet.
   */
  leaseDeadline?: number;
  /**
   * When this watchdog started: its agent started just before it, so an agent still starting
   * up (connecting to NATS) is not silent before then.
   */
  startedAt: number;
  /** When the agent last started a heartbeat round or renewed its lease (undefined: not yet). */
  lastBeatAt?: number;
  /** The agent's process is gone (its pipe closed). */
  agentGone: boolean;
  /** A later agent run's watchdog owns the lease file now. */
  takenOver: boolean;
}

/**
 * Pure. How long a live agent may start no heartbeat round before its watchdog takes it for
 * hung: clearly longer than its longest round (NATS flush up to a heartbeat, a probe timeout,
 * the observation's heartbeat), so a live agent on a slow NATS is never taken for a hung one.
 */
export function hungAfterMs(leaseTtlMs: number, heartbeatMs: number): number {
  return Math.max(2 * leaseTtlMs, 3 * heartbeatMs);
}

/**
 * Pure. Why the watchdog leaves a workload's primary alone, or undefined when it fences it.
 * Invariant 1a: only a workload whose effective policy fails over automatically gets a replica
 * promoted without an operator; fencing any other at the deadline would leave no copy serving
 * until a human acts. (A paused workload is runtime state the agent does not know: still fenced.)
 * Throws nothing; an unknown workload is spared.
 */
export function watchdogSparesWhy(config: DrcConfig, workloadId: string): string | undefined {
  const w = config.workloads.find((x) => x.id === workloadId);
  if (!w) return 'not in the configuration';
  const mode = effectivePolicy(config, w).failoverMode;
  return mode === 'automatic' ? undefined : `failoverMode ${mode}: the coordinator promotes nothing without an operator, so fencing would leave no copy serving`;
}

/** Pure. How long the agent waits before starting its watchdog again after `failures` exits in a row: doubling from 1 s, at most 30 s. */
export function watchdogRestartDelayMs(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
}

/**
 * Pure. What the watchdog does now. It stands down when a later agent run took its duty over;
 * it fences once the lease deadline has passed and the agent is gone, or is alive but has
 * started no heartbeat round for `silentMs` since its last one or since the watchdog started
 * (hung: its witness endpoint is as silent as its heartbeats, so the coordinator fails the
 * site over just the same; see hungAfterMs). An agent that is alive and beating
 * after its lease lapsed (cut from NATS) decides for itself (self-fence when it cannot reach a
 * majority): fencing then could stop a primary that nothing replaces.
 */
export function watchdogVerdict(s: WatchState, now: number, silentMs: number): 'stand down' | 'fence' | 'wait' {
  if (s.takenOver) return 'stand down';
  // No lease held (an agent that never renewed one, e.g. NATS unreachable at its start): the
  // coordinator counts on no fence from this run.
  if (s.leaseDeadline === undefined) return s.agentGone ? 'stand down' : 'wait';
  if (now < s.leaseDeadline) return 'wait';
  if (s.agentGone || now - (s.lastBeatAt ?? s.startedAt) > silentMs) return 'fence';
  return 'wait';
}

export interface WatchdogLinkOptions {
  configFile: string;
  siteId: string;
  incarnation: string;
  leaseTtlMs: number;
  heartbeatMs: number;
  leaseFile: string;
  logger: Logger;
}

/** How the watchdog process ends: each tells its agent whether to start another. */
export const WATCHDOG_EXIT = { takenOver: 0, failed: 1, usage: 2, fenced: 3 } as const;

const WATCHDOG_MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/**
 * The agent's end of its watchdog: starts the watchdog process detached (its own session, so a
 * kill of the agent's process group spares it), feeds it a line per heartbeat round on a pipe
 * (the agent's death is its EOF), and starts it again if it ever exits while the agent runs.
 */
export class WatchdogLink {
  private child?: ChildProcess;
  private stopped = false;
  private superseded = false;
  /** Watchdogs in a row that exited (a failure, or after fencing) since one was last on duty. */
  private failures = 0;
  /** No new watchdog before this (epoch ms): one that keeps failing is not respawned every heartbeat. */
  private nextStartAt = 0;
  /** Resolves when the current watchdog has taken the lease file over (rejects if it exits first). */
  ready: Promise<void> = Promise.resolve();

  constructor(private readonly opts: WatchdogLinkOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the watchdog process; `ready` says when it is on duty. */
  start(): void {
    const o = this.opts;
    const child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), WATCHDOG_MAIN, '--config', o.configFile, '--site', o.siteId, '--incarnation', o.incarnation, '--lease-ttl-ms', String(o.leaseTtlMs), '--heartbeat-ms', String(o.heartbeatMs), '--lease-file', o.leaseFile, '--agent-pid', String(process.pid)],
      // stdin: our beats (EOF = we died); stdout/stderr: our own (its log lines join ours); fd 3: "ready".
      { detached: true, stdio: ['pipe', 'inherit', 'inherit', 'pipe'], env: process.env },
    );
    this.child = child;
    child.unref();
    (child.stdin as Socket | null)?.unref?.();
    child.stdin?.on('error', () => undefined); // a dead watchdog: its exit handler reports it
    const control = child.stdio[3] as Socket | null;
    control?.unref?.();
    this.ready = new Promise<void>((resolve, reject) => {
      let said = '';
      control?.on('data', (d: Buffer) => {
        said += d.toString();
        if (said.includes('ready')) {
          this.failures = 0;
          resolve();
        }
      });
      child.on('exit', (code, signal) => reject(new Error(`the watchdog exited before it was on duty (${signal ?? `code ${code}`})`)));
      child.on('error', reject);
    });
    this.ready.catch(() => undefined);
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      if (code === WATCHDOG_EXIT.takenOver) {
        // Another agent of this site started after us: two agents of one site is a mistake to fix,
        // and a watchdog of ours again would take the duty back from the newer one's.
        this.superseded = true;
        o.logger.error({ watchdogPid: child.pid }, 'the watchdog stood down for an agent of this site started later: two agents run for one site; this one now runs without a watchdog');
        return;
      }
      this.failures += 1;
      const delayMs = watchdogRestartDelayMs(this.failures);
      this.nextStartAt = Date.now() + delayMs;
      o.logger.error({ watchdogPid: child.pid, code, signal, exitsInARow: this.failures }, `the watchdog exited while this agent runs; starting another at the first heartbeat after ${delayMs} ms`);
    });
    o.logger.info({ watchdogPid: child.pid, leaseFile: o.leaseFile }, `watchdog pid ${child.pid} started: it fences this site's primaries if this agent dies and no agent renews the lease in time`);
  }

  /** Tells the watchdog about one heartbeat round (starting a new watchdog if the last one exited and its backoff is over). */
  beat(b: WatchdogBeat): void {
    if (this.stopped || this.superseded) return;
    if (!this.child) {
      if (Date.now() < this.nextStartAt) return;
      this.start();
      process.stdout.write(`watchdog pid ${this.child!.pid} started again\n`);
    }
    this.child?.stdin?.write(`${JSON.stringify(b)}\n`);
  }

  /**
   * The agent stops: the watchdog stays on duty (it notices our exit), because an agent that is
   * not restarted within its lease has its site failed over and its primaries must be fenced.
   */
  detach(): void {
    this.stopped = true;
  }
}
