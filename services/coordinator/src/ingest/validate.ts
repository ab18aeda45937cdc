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

/** `siteId`: the site of the subject the message came on, the only word on who sent it. */
export type Verdict = { ok: true; message: AgentMessage; siteId: string } | { ok: false; reason: string; issues: FieldIssue[] };

/** Pure. The one subject a message of this kind from this site may come on. */
function subjectOf(subjects: Subjects, kind: AgentMessage['kind'], siteId: string): string {
  if (kind === 'heartbeat') return subjects.heartbeat(siteId);
  if (kind === 'observation') return subjects.observation(siteId);
  return subjects.commandResult(siteId);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Pure. Checks one raw agent message: size, UTF-8, JSON, schema, that the site it names is the
 * site of the subject it came on (an agent may speak only for its own site; identity comes from
 * the subject, which NATS permissions tie to the site's credentials, never from the body), that
 * it came on its kind's own subject (a result on the result subject, and so on) and that the
 * site is known.
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
  if (!knownSite(subjectSite)) {
    return { ok: false, reason: `unknown site "${subjectSite}"`, issues: [{ path: 'siteId', message: 'unknown site' }] };
  }
  const own = subjectOf(subjects, msg.kind, subjectSite);
  if (subject !== own) {
    return { ok: false, reason: `a ${msg.kind} from site "${subjectSite}" belongs on ${own}, not ${subject}`, issues: [{ path: 'kind', message: 'not the subject of this kind of message' }] };
  }
  return { ok: true, message: msg, siteId: subjectSite };
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
