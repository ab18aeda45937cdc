import type { CommandResult } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { checkCommandResult, type SentCommand } from './command-result';

const fence: SentCommand = { commandId: 'w1:0:1:fence:A:0', siteId: 'A', action: 'fence', epoch: 0 };
const result = (over: Partial<CommandResult> = {}): CommandResult => ({
  kind: 'commandResult', v: 1, incarnation: { id: 'i', startedAt: 1 }, commandId: fence.commandId, workloadId: 'w1', siteId: 'A', action: 'fence', epoch: 0,
  status: 'done', startedAt: 1, completedAt: 2, detail: {}, ...over,
});

describe('command result origin - a result counts only from the site, for the action and epoch, it was sent with', () => {
  it('takes the answer of the site the command was sent to', () => {
    expect(checkCommandResult(result(), 'A', fence)).toEqual({ ok: true });
  });
  it.each([
    ['no such pending command', result(), 'A', undefined, 'commandId', /no pending command/],
    ['another site (subject C), whatever the body says', result({ siteId: 'A' }), 'C', fence, 'siteId', /sent to site "A"; a result from site "C"/],
    ['another action under the same id', result({ action: 'unfence' }), 'A', fence, 'action', /action "unfence".*"fence"/],
    ['another epoch under the same id', result({ epoch: 3 }), 'A', fence, 'epoch', /epoch 3 .*epoch 0/],
  ])('rejects %s, naming the field', (_name, msg, from, sent, path, reason) => {
    const v = checkCommandResult(msg, from, sent);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.reason).toMatch(reason);
      expect(v.issues.map((i) => i.path)).toEqual([path]);
    }
  });
});
