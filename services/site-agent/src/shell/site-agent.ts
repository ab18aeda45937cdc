import { systemClock, systemRandom, type Clock, type NatsConnection } from '@drc/runtime';
import { AgentCore, type AgentCoreOptions } from '../agent/core';
import { MemoryAgentJournal } from '../agent/journal';
import type { AgentJournal } from '../agent/ports';
import { createNatsAgentBus, type NatsAgentBus } from './nats-bus';

/**
 * The production agent: the agent core over NATS, the OS clock and crypto randomness. Options as
 * the core's, with a NATS connection in place of the bus and every other port optional.
 */
export interface SiteAgentOptions extends Omit<AgentCoreOptions, 'clock' | 'random' | 'bus' | 'journal'> {
  nc: NatsConnection;
  /** The OS clock unless given (tests). */
  now?: () => number;
  /** Durable memory of epochs and command results (survives restarts); in memory only when absent. */
  journal?: AgentJournal;
  /** Cluster servers holding each drc stream when this agent is the one creating it (default 1). */
  streamReplicas?: number;
}

/** The site agent process's agent: makes sure the drc streams exist, then runs the core. */
export class SiteAgent extends AgentCore {
  private readonly natsBus: NatsAgentBus;
  private readonly streamReplicas: number;

  constructor(opts: SiteAgentOptions) {
    const { nc, now, journal, streamReplicas, ...rest } = opts;
    const clock: Clock = now ? { ...systemClock, now } : systemClock;
    const bus = createNatsAgentBus(nc);
    super({ ...rest, clock, random: systemRandom, bus, journal: journal ?? new MemoryAgentJournal() });
    this.natsBus = bus;
    this.streamReplicas = streamReplicas ?? 1;
  }

  override async start(): Promise<void> {
    await this.natsBus.ensureStreams(this.subjects, { replicas: this.streamReplicas });
    await super.start();
  }
}
