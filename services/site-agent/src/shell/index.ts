export { SiteAgent, type SiteAgentOptions } from './site-agent';
export { createNatsAgentBus, type NatsAgentBus } from './nats-bus';
export { AgentStateJournal, STATE_FILE } from './file-journal';
export { Witness, WITNESS_PATH, WitnessReplySchema, parseListen, parseWitnessPeers, type WitnessOptions, type WitnessReply } from './http-witness';
