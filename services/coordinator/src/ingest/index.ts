export { validateAgentMessage, deadLetterFor, type Verdict } from './validate';
export { checkCommandResult, type ResultVerdict, type SentCommand } from './command-result';
