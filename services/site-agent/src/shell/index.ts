/**
 * The site agent's production shell: the agent core (../agent/) over NATS, the OS clock, crypto
 * randomness, the state-dir file and HTTP witness probes. ../main.ts (the process) wires these.
 *   site-agent.ts    SiteAgent: the core on systemClock/systemRandom and the NATS bus; makes sure the streams exist
 *   nats-bus.ts      createNatsAgentBus: @drc/runtime's createNatsBus plus flush
 *   file-journal.ts  AgentStateJournal: the AgentJournal as an fsynced JSON-lines file
 *   http-witness.ts  Witness: the WitnessProbe over HTTP (answers peers, probes theirs)
 */
export { SiteAgent, type SiteAgentOptions } from './site-agent';
export { createNatsAgentBus, type NatsAgentBus } from './nats-bus';
export { AgentStateJournal, STATE_FILE } from './file-journal';
export { Witness, WITNESS_PATH, WitnessReplySchema, parseListen, parseWitnessPeers, type WitnessOptions, type WitnessReply } from './http-witness';
