export { validateAgentMessage, deadLetterFor, type Verdict } from './validate';
export { AgentSequencer, outOfOrderReason, type SequenceVerdict, type SequencedMessage } from './agent-sequencer';
export { checkCommandResult, type ResultVerdict, type SentCommand } from './command-result';
