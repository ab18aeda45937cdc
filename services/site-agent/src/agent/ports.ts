import type { AgentIncarnation, CommandResult } from '@drc/contracts';
import type { Bus, BusConsumption } from '@drc/runtime';
import type { WatchdogBeat } from '../watchdog/watchdog';

/**
 * The ports of the agent core (issue 18) beyond the shared ones of `@drc/runtime` (Clock, Random,
 * Bus). Production implements them in `../shell/` (NATS, the state-dir file, HTTP probes, the
 * watchdog process); the simulator implements them over simulated time, network and disk, so the
 * same core runs in both. The drivers are a port of their own (`../drivers/driver.ts`).
 */

/**
 * The message bus as the agent needs it: the shared Bus, plus a flush (its lease is renewed only
 * once the server confirms it has the heartbeat) and a command consumer that starts at new messages.
 */
export interface AgentBus extends Bus {
  /** Resolves once the server has received everything published so far (volatile messages included). */
  flush(): Promise<void>;
  /**
   * As Bus.consume; `deliver` says where a durable that does not exist yet starts: the whole
   * stream ('all', the default) or what arrives from now on ('new').
   */
  consume(stream: string, durable: string, opts: { ackWaitMs: number; filterSubjects?: string[]; maxMessages?: number; deliver?: 'all' | 'new' }): Promise<BusConsumption>;
}

/** A command result as journaled: the sending run's incarnation is no part of it (journals from before incarnations have none). */
export type JournaledResult = Omit<CommandResult, 'incarnation'> & { incarnation?: AgentIncarnation };

/** What an agent must not forget across a crash or restart. */
export interface AgentState {
  /** The newest epoch seen per workload: the fencing token; never decreases. */
  epochs: Map<string, number>;
  /** Recent command results by command id, oldest first: a re-sent command is answered, never run twice. */
  results: Map<string, JournaledResult>;
}

/**
 * The agent's durable local state (production: an fsynced file in the state dir). `state` is what
 * was on disk when it was opened, kept current by the record calls. A record call resolves (or
 * returns) only once the record is durable; the core acts under an epoch only after that. A record
 * call that throws or rejects means nothing was acted upon.
 */
export interface AgentJournal {
  readonly state: AgentState;
  /** Records that `epoch` is the newest seen for the workload (a lower one is ignored). */
  recordEpoch(workloadId: string, epoch: number): void | Promise<void>;
  recordResult(result: CommandResult): void | Promise<void>;
}

/**
 * How the agent hears the other sites without NATS (production: HTTP probes of their agents'
 * witness endpoints, `../shell/http-witness.ts`). A peer heard within the lease TTL counts as
 * reachable, in the heartbeat's `peers` and in the self-fencing majority.
 */
export interface WitnessProbe {
  /** Starts answering the other agents' probes, if this agent answers any. */
  start(): Promise<void>;
  /**
   * Probes every peer once; calls `heard(site)` for each that answered as itself. Never
   * rejects; a peer that does not answer is simply not heard this round.
   */
  probeAll(heard: (siteId: string) => void): Promise<void>;
  stop(): Promise<void>;
}

/** The agent's watchdog (production: a detached process, `../watchdog/`), told of every heartbeat round. */
export interface AgentWatchdog {
  beat(b: WatchdogBeat): void;
}
