import type { Command, Subjects } from '@drc/contracts';
import { encodeJson, recordHeaders, traceHeaders, type Bus } from '@drc/runtime';

/**
 * The one place commands leave the coordinator: the bus (JetStream in production), on the
 * target site's command subject, with the command id as the message id so the server drops a
 * re-dispatch inside its duplicate window (agents also dedupe by id beyond it).
 */
export function createCommandDispatcher(bus: Bus, subjects: Subjects): (command: Command) => Promise<void> {
  return async (command) => {
    // The active trace context (the decision's span) travels in the headers to the agent.
    const headers = traceHeaders(recordHeaders()).record;
    await bus.publish(subjects.commands(command.siteId), encodeJson(command), { msgId: command.commandId, headers });
  };
}
