export { SiteAgent, type SiteAgentOptions } from './site-agent';
export { NatsAgentBus } from './nats-bus';
