import type { Command, Subjects } from '@drc/contracts';
import { encodeJson, traceHeaders, type JetStreamClient } from '@drc/runtime';
import { headers } from '@nats-io/transport-node';

/**
 * The one place commands leave the coordinator: JetStream, on the target site's command
 * subject, with the command id as the message id so the server drops a re-dispatch inside
 * its duplicate window (agents also dedupe by id beyond it).
 */
export function createCommandDispatcher(js: JetStreamClient, subjects: Subjects): (command: Command) => Promise<void> {
  return async (command) => {
    // The active trace context (the decision's span) travels in the headers to the agent.
    await js.publish(subjects.commands(command.siteId), encodeJson(command), { msgID: command.commandId, headers: traceHeaders(headers()) });
  };
}
