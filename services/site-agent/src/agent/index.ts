/**
 * The site agent core (issue 18): everything the agent decides and does, over ports only, so the
 * simulator runs this very code on simulated time, network and disk.
 *   core.ts         AgentCore: lifecycle, heartbeat round (lease renewal on a flushed heartbeat,
 *                   witness view, watchdog beats), self-fence, observations
 *   commands.ts     CommandExecutor: per-workload queues, epoch fence, repeats, deadlines, results kept through outages
 *   lease.ts        the lease rules, pure (reachable peers, renewal timeout, must self-fence)
 *   journal.ts      journal records and how they apply; MemoryAgentJournal
 *   ports.ts        AgentBus, AgentJournal/AgentState, WitnessProbe, AgentWatchdog (Clock, Random, Bus: @drc/runtime; drivers: ../drivers/driver.ts)
 *   timeout.ts, trace-headers.ts  small helpers on the Clock and on message headers
 * Nothing here calls the OS clock, timers, randomness, files or NATS (core.unit.test.ts checks).
 * The production shell is ../shell/.
 */
export { AgentCore, type AgentCoreOptions, type AgentWorkload } from './core';
export { MemoryAgentJournal, emptyAgentState, applyJournalRecord, type JournaledResult, type JournalRecord } from './journal';
export type { AgentBus, AgentJournal, AgentState, AgentWatchdog, WitnessProbe } from './ports';
