export { SiteAgent, type SiteAgentOptions, type AgentWorkload } from './agent/index';
export { DriverError, isDriverError, type WorkloadDriver, type DriverFactory, type DriverSetup, type ProbeResult, type ActionContext, type ActionOutcome } from './drivers/driver';
export { SimDriver, createSimDriver, type SimControls } from './drivers/sim/index';
export { setupsForSite, createDrivers } from './workloads';
