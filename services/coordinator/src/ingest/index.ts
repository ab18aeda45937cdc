export { validateAgentMessage, deadLetterFor, type Verdict } from './validate';
export { AgentSequencer, outOfOrderReason, type SequenceVerdict, type SequencedMessage } from './agent-sequencer';
export { checkCommandResult, type ResultVerdict, type SentCommand } from './command-result';
export { AgentIngest, consumeAgentMessages, messageHeaders, type AgentIngestDeps, type IngestMetrics, type IngestStats } from './agent-ingest';
