export { SiteAgent, type SiteAgentOptions, type AgentWorkload } from './site-agent';
