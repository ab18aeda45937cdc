import { createSubjects } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { deadLetterFor, validateAgentMessage } from './validate';

const subjects = createSubjects('drc');
const known = (s: string) => ['A', 'B'].includes(s);
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const obs = { kind: 'observation', v: 1, siteId: 'A', agentId: 'a1', incarnation: { id: 'run-1', startedAt: 1 }, seq: 1, observedAt: 1, workloads: [] };

describe('agent message validation - bad input is rejected with a reason', () => {
  it('accepts a well-formed observation on its own site subject', () => {
    const v = validateAgentMessage(subjects, subjects.observation('A'), bytes(obs), known);
    expect(v.ok).toBe(true);
  });
  it("names the sender by the subject's site (identity from the subject, never the body)", () => {
    const v = validateAgentMessage(subjects, subjects.observation('A'), bytes(obs), known);
    expect(v.ok && v.siteId).toBe('A');
  });
  it.each([
    ['bad JSON', subjects.observation('A'), bytes('{not json'), /not valid UTF-8 JSON/],
    ['invalid UTF-8', subjects.observation('A'), new Uint8Array([0xff, 0xfe, 0x7b]), /UTF-8/],
    ['wrong schema', subjects.observation('A'), bytes({ ...obs, seq: -1 }), /schema violation: seq/],
    ['no incarnation (an agent from before incarnations)', subjects.observation('A'), bytes({ ...obs, incarnation: undefined }), /schema violation: incarnation/],
    ['unknown kind', subjects.observation('A'), bytes({ ...obs, kind: 'gossip' }), /schema violation: kind/],
    ['site spoofing', subjects.observation('B'), bytes(obs), /does not match the subject's site "B"/],
    ['a message on another kind of subject of its site', subjects.commandResult('A'), bytes(obs), /an? observation from site "A" belongs on drc\.v1\.site\.A\.obs/],
    ['unknown site', subjects.observation('Z'), bytes({ ...obs, siteId: 'Z' }), /unknown site "Z"/],
    ['oversized', subjects.observation('A'), new Uint8Array(300 * 1024), /exceeds/],
  ])('rejects %s', (_name, subject, data, reason) => {
    const v = validateAgentMessage(subjects, subject, data, known);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(reason);
  });
  it('keeps a truncated, encoded copy of the payload in the dead letter', () => {
    const dl = deadLetterFor('s', new Uint8Array([0xff, 0x00]), 'r', [], 5);
    expect(dl).toMatchObject({ payloadEncoding: 'base64', payloadBytes: 2, reason: 'r' });
  });
});
