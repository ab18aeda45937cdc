export { AgentCore, type AgentCoreOptions, type AgentWorkload } from './core';
export { MemoryAgentJournal, emptyAgentState, applyJournalRecord, type JournaledResult, type JournalRecord } from './journal';
export type { AgentBus, AgentJournal, AgentState, AgentWatchdog, WitnessProbe } from './ports';
