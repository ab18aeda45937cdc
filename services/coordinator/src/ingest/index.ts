export { validateAgentMessage, deadLetterFor, type Verdict } from './validate';
