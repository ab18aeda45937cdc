export { AgentCore, MemoryAgentJournal, emptyAgentState, type AgentCoreOptions, type AgentWorkload, type AgentBus, type AgentJournal, type AgentState, type AgentWatchdog, type WitnessProbe } from './agent/index';
export { SiteAgent, createNatsAgentBus, type NatsAgentBus, type SiteAgentOptions } from './shell/index';
export { DriverError, isDriverError, type WorkloadDriver, type DriverFactory, type DriverSetup, type ProbeResult, type ActionContext, type ActionOutcome } from './drivers/driver';
export { SimDriver, createSimDriver, type SimControls } from './drivers/sim/index';
export { setupsForSite, createDrivers } from './workloads';
export { watchdogVerdict, hungAfterMs, type WatchState, type WatchdogBeat } from './watchdog/watchdog';
