import { PROTOCOL_VERSION } from './version';

/**
 * NATS subject names. Every subject in drc is built here; no other file spells one.
 *
 *   <prefix>.v1.site.<site>.heartbeat    agent → coordinator (core NATS)
 *   <prefix>.v1.site.<site>.obs          agent → coordinator (JetStream: observations)
 *   <prefix>.v1.site.<site>.result       agent → coordinator (JetStream: command results)
 *   <prefix>.v1.cmd.<site>               coordinator → agent (JetStream: commands)
 *   <prefix>.v1.dlq                      rejected messages with the reason (JetStream)
 */
export interface Subjects {
  readonly prefix: string;
  heartbeat(siteId: string): string;
  observation(siteId: string): string;
  commandResult(siteId: string): string;
  commands(siteId: string): string;
  deadLetter(): string;
  /** Wildcards for consumers. */
  allHeartbeats(): string;
  allSiteMessages(): string;
  allObservations(): string;
  allCommandResults(): string;
  allCommands(): string;
  /** JetStream stream names derived from the prefix (unique per prefix, so tests can isolate). */
  streams: { agents: string; commands: string; deadLetters: string };
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Pure. Throws if the prefix is not a dot-separated list of subject-safe tokens. */
export function createSubjects(prefix = 'drc'): Subjects {
  if (!prefix.split('.').every((t) => TOKEN.test(t))) {
    throw new Error(`invalid subject prefix "${prefix}": expected dot-separated tokens of [A-Za-z0-9_-]`);
  }
  const base = `${prefix}.v${PROTOCOL_VERSION}`;
  const streamBase = prefix.replace(/[.]/g, '_').toUpperCase();
  const site = (id: string) => {
    if (!TOKEN.test(id)) throw new Error(`invalid site id in subject: "${id}"`);
    return id;
  };
  return {
    prefix,
    heartbeat: (s) => `${base}.site.${site(s)}.heartbeat`,
    observation: (s) => `${base}.site.${site(s)}.obs`,
    commandResult: (s) => `${base}.site.${site(s)}.result`,
    commands: (s) => `${base}.cmd.${site(s)}`,
    deadLetter: () => `${base}.dlq`,
    allHeartbeats: () => `${base}.site.*.heartbeat`,
    allSiteMessages: () => `${base}.site.>`,
    allObservations: () => `${base}.site.*.obs`,
    allCommandResults: () => `${base}.site.*.result`,
    allCommands: () => `${base}.cmd.>`,
    streams: {
      agents: `${streamBase}_AGENTS`,
      commands: `${streamBase}_COMMANDS`,
      deadLetters: `${streamBase}_DLQ`,
    },
  };
}

/** Pure. Extracts the site token from a site subject, or undefined if it is not one. */
export function siteOfSubject(subjects: Subjects, subject: string): string | undefined {
  const base = `${subjects.prefix}.v${PROTOCOL_VERSION}.site.`;
  if (!subject.startsWith(base)) return undefined;
  const rest = subject.slice(base.length).split('.');
  return rest.length === 2 ? rest[0] : undefined;
}
