import {
  AgentMessageSchema,
  MAX_AGENT_MESSAGE_BYTES,
  siteOfSubject,
  toFieldIssues,
  type AgentMessage,
  type DeadLetter,
  type FieldIssue,
  type Subjects,
} from '@drc/contracts';

export type Verdict = { ok: true; message: AgentMessage } | { ok: false; reason: string; issues: FieldIssue[] };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Pure. Checks one raw agent message: size, UTF-8, JSON, schema, and that the site it names
 * is the site of the subject it came on (an agent may speak only for its own site) and is known.
 */
export function validateAgentMessage(subjects: Subjects, subject: string, data: Uint8Array, knownSite: (id: string) => boolean): Verdict {
  if (data.byteLength > MAX_AGENT_MESSAGE_BYTES) {
    return { ok: false, reason: `message of ${data.byteLength} bytes exceeds the ${MAX_AGENT_MESSAGE_BYTES}-byte limit`, issues: [] };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(utf8.decode(data));
  } catch (e) {
    return { ok: false, reason: `not valid UTF-8 JSON: ${(e as Error).message}`, issues: [] };
  }
  const parsed = AgentMessageSchema.safeParse(doc);
  if (!parsed.success) {
    const issues = toFieldIssues(parsed.error);
    return { ok: false, reason: `schema violation: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues };
  }
  const msg = parsed.data;
  const subjectSite = siteOfSubject(subjects, subject);
  if (subjectSite !== msg.siteId) {
    return { ok: false, reason: `site "${msg.siteId}" in the message does not match the subject's site "${subjectSite ?? '(none)'}"`, issues: [{ path: 'siteId', message: 'does not match subject' }] };
  }
  if (!knownSite(msg.siteId)) {
    return { ok: false, reason: `unknown site "${msg.siteId}"`, issues: [{ path: 'siteId', message: 'unknown site' }] };
  }
  return { ok: true, message: msg };
}

/** Pure. The dead letter published for a rejected message. */
export function deadLetterFor(subject: string, data: Uint8Array, reason: string, issues: FieldIssue[], receivedAt: number): DeadLetter {
  const max = 8192;
  const slice = data.subarray(0, max);
  let payload: string;
  let payloadEncoding: 'utf8' | 'base64' = 'utf8';
  try {
    payload = utf8.decode(slice);
  } catch {
    payload = Buffer.from(slice).toString('base64');
    payloadEncoding = 'base64';
  }
  return { kind: 'deadLetter', v: 1, subject, reason, issues, receivedAt, payload, payloadEncoding, payloadBytes: data.byteLength };
}
