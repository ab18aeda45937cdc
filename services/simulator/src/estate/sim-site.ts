import type { WorkloadRole } from '@drc/contracts';
import { hungAfterMs, MemoryAgentJournal, watchdogVerdict, type AgentJournal, type AgentState, type WatchdogBeat, type WatchState, type WitnessProbe } from '@drc/site-agent';
import type { SimClock } from '../kernel/clock';
import type { Scheduler, SimProcess } from '../kernel/scheduler';
import type { Network } from '../net/network';
import type { SimPgDriver } from '../pg/driver';

/**
 * An agent's journal on its simulated disk: the REAL MemoryAgentJournal over a state object the
 * estate keeps across the agent's crashes, with a hook that tells the checker of every epoch
 * recorded (epochs never decrease at any agent).
 */
export function diskJournal(state: AgentState, onEpoch: (workloadId: string, from: number, to: number) => void): AgentJournal {
  const real = new MemoryAgentJournal(state);
  return {
    state,
    recordEpoch(workloadId, epoch) {
      const before = state.epochs.get(workloadId);
      real.recordEpoch(workloadId, epoch);
      const after = state.epochs.get(workloadId)!;
      if (before === undefined || after !== before) onEpoch(workloadId, before ?? 0, after);
    },
    recordResult: (r) => real.recordResult(r),
  };
}

/**
 * The direct agent-to-agent witness path (production: HTTP to the peer agent's endpoint), over
 * the simulated network: a probe reaches the peer's agent process (late when it is paused, never
 * when it crashed or the link is cut) and its answer comes back the same way.
 */
export function simWitness(o: { net: Network; siteId: string; peers: string[]; clock: SimClock; alive: (siteId: string) => boolean; timeoutMs: number }): WitnessProbe {
  return {
    async start() {},
    async stop() {},
    probeAll(heard) {
      return new Promise<void>((resolve) => {
        let waiting = o.peers.length;
        if (waiting === 0) return resolve();
        const t = o.clock.setTimeout(resolve, o.timeoutMs);
        for (const p of o.peers) {
          o.net.send(`agent-${o.siteId}`, `agent-${p}`, 'witness-ping', () => {
            if (!o.alive(p)) return;
            o.net.send(`agent-${p}`, `agent-${o.siteId}`, 'witness-pong', () => {
              heard(p);
              if (--waiting === 0) {
                o.clock.clearTimeout(t);
                resolve();
              }
            });
          });
        }
      });
    },
  };
}

/**
 * The agent's watchdog, a process of its own beside the agent (production: a detached process
 * fed by the agent's stdout). The decision is the REAL one (`watchdogVerdict`, `hungAfterMs` of
 * the site agent); this class only carries the state it decides on: beats come over the local
 * pipe (no network), the agent's death closes the pipe, and at the verdict 'fence' it fences
 * the copies its agent last saw as primaries (every simulated workload fails over automatically).
 */
export class SimWatchdog {
  private state: WatchState;
  private roles: Record<string, WorkloadRole> = {};
  private fencedFor: number | undefined;
  fences = 0;

  constructor(
    private readonly o: { sched: Scheduler; proc: SimProcess; clock: SimClock; siteId: string; drivers: Map<string, SimPgDriver>; leaseTtlMs: number; heartbeatMs: number },
  ) {
    this.state = { startedAt: o.clock.now(), agentGone: false, takenOver: false };
  }

  start(): void {
    this.o.clock.setInterval(() => void this.check(), 100);
  }

  /** A beat from the agent, over the pipe (it arrives at once unless the watchdog is paused). */
  beat(b: WatchdogBeat): void {
    this.o.sched.after(0, () => {
      this.state = { ...this.state, lastBeatAt: this.o.clock.now(), ...(b.leaseDeadline !== undefined ? { leaseDeadline: b.leaseDeadline } : {}) };
      if (b.roles) this.roles = { ...this.roles, ...b.roles };
    }, 'watchdog-beat', this.o.proc);
  }

  /** The agent process died (its pipe closed). */
  agentGone(): void {
    this.o.sched.after(0, () => (this.state = { ...this.state, agentGone: true }), 'watchdog-pipe-closed', this.o.proc);
  }

  /** A new agent run started beside this watchdog: silence counts from now, the inherited deadline stays. */
  agentStarted(): void {
    this.o.sched.after(0, () => (this.state = { ...this.state, agentGone: false, startedAt: this.o.clock.now(), lastBeatAt: undefined }), 'watchdog-agent-started', this.o.proc);
  }

  private async check(): Promise<void> {
    const now = this.o.clock.now();
    const verdict = watchdogVerdict(this.state, now, hungAfterMs(this.o.leaseTtlMs, this.o.heartbeatMs));
    if (verdict !== 'fence' || this.fencedFor === this.state.leaseDeadline) return;
    this.fencedFor = this.state.leaseDeadline;
    for (const [workloadId, role] of Object.entries(this.roles)) {
      if (role !== 'primary') continue;
      const d = this.o.drivers.get(workloadId);
      if (!d) continue;
      this.fences++;
      this.o.sched.trace.record(this.o.sched.now, this.o.proc.id, 'watchdog-fence', workloadId);
      await d.execute('fence', { reason: 'watchdog: agent lease lapsed' }, { commandId: `watchdog:${workloadId}:${now}`, epoch: 0, deadline: now + 30_000, signal: new AbortController().signal }).catch(() => undefined);
    }
  }
}
