import { compareIncarnations, type AgentIncarnation, type FieldIssue } from '@drc/contracts';

/** What the sequencer needs of an agent message (heartbeats and observations have it). */
export interface SequencedMessage {
  siteId: string;
  agentId: string;
  incarnation: AgentIncarnation;
  seq: number;
}

export type SequenceVerdict =
  /** In order. `restarted`: the first message of a newer incarnation than the one heard so far. */
  | { ok: true; restarted: boolean; previous?: AgentIncarnation }
  /** Same incarnation, seq not increasing: a duplicate or a reordering. */
  | { ok: false; why: 'replay'; lastSeq: number }
  /** From a run of the agent older than one already heard: a replay from before a restart. */
  | { ok: false; why: 'older-incarnation'; current: AgentIncarnation };

interface Newest {
  incarnation: AgentIncarnation;
  seq: number;
  /** When it was taken (the coordinator's clock), if the caller said. */
  takenAt?: number;
}

export interface AgentSequencerOptions {
  /**
   * An older incarnation is taken once the newest one heard has been silent this long (ms; the
   * site lease). Start times come from the agents' clocks: a host whose clock stepped back while
   * its agent restarted starts a run that looks older than the dead one, and refusing it for ever
   * would leave the site lost until the coordinator restarts. A run silent past the lease is
   * dead (its site was declared lost), so a replay of it is the only thing this lets in, and a lost
   * site's observations are not taken before its heartbeat is heard anyway. Unset: never.
   */
  supersedeSilentAfterMs?: number;
}

/**
 * Orders one kind of agent message per agent (site and agent id) and incarnation. An agent's
 * `seq` starts over with every process while its id stays the same, so `seq` alone would take a
 * restarted agent for a replay of its earlier run and leave its site blind (issue 17). Within an
 * incarnation seq must increase; a newer incarnation (later start) starts the order over; an
 * older one is never taken again. Not pure (remembers the newest message per agent), no I/O,
 * no clock; never throws.
 */
export class AgentSequencer {
  private readonly newest = new Map<string, Newest>();

  constructor(private readonly opts: AgentSequencerOptions = {}) {}

  /** Whether `msg` comes after everything taken from its agent so far (`now`: the coordinator's clock). Changes nothing. */
  check(msg: SequencedMessage, now?: number): SequenceVerdict {
    const last = this.newest.get(keyOf(msg));
    if (!last) return { ok: true, restarted: false };
    const order = compareIncarnations(msg.incarnation, last.incarnation);
    if (order < 0) {
      const silentFor = now !== undefined && last.takenAt !== undefined ? now - last.takenAt : undefined;
      const limit = this.opts.supersedeSilentAfterMs;
      if (limit !== undefined && silentFor !== undefined && silentFor >= limit) return { ok: true, restarted: true, previous: last.incarnation };
      return { ok: false, why: 'older-incarnation', current: last.incarnation };
    }
    if (order > 0) return { ok: true, restarted: true, previous: last.incarnation };
    return msg.seq > last.seq ? { ok: true, restarted: false } : { ok: false, why: 'replay', lastSeq: last.seq };
  }

  /** Records `msg` as the newest taken from its agent (after `check` said it is in order). */
  take(msg: SequencedMessage, now?: number): void {
    this.newest.set(keyOf(msg), { incarnation: msg.incarnation, seq: msg.seq, ...(now !== undefined ? { takenAt: now } : {}) });
  }

  /** `check`, then `take` when in order. */
  admit(msg: SequencedMessage, now?: number): SequenceVerdict {
    const verdict = this.check(msg, now);
    if (verdict.ok) this.take(msg, now);
    return verdict;
  }
}

function keyOf(msg: SequencedMessage): string {
  return `${msg.siteId}/${msg.agentId}`;
}

/** Pure. The dead-letter reason and field issue for a message the sequencer refused. */
export function outOfOrderReason(kind: 'heartbeat' | 'observation', msg: SequencedMessage, verdict: Extract<SequenceVerdict, { ok: false }>): { reason: string; issues: FieldIssue[] } {
  if (verdict.why === 'replay') {
    return { reason: `replayed or reordered ${kind}: seq ${msg.seq} ≤ last seen ${verdict.lastSeq} from agent ${msg.agentId}`, issues: [{ path: 'seq', message: 'not increasing' }] };
  }
  return {
    reason: `${kind} from an older incarnation of agent ${msg.agentId} (${describe(msg.incarnation)}) than the one already heard (${describe(verdict.current)}): sent before a restart`,
    issues: [{ path: 'incarnation', message: 'older than the newest heard' }],
  };
}

function describe(i: AgentIncarnation): string {
  return `${i.id}, started ${new Date(i.startedAt).toISOString()}`;
}
