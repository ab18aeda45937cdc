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

  /** Whether `msg` comes after everything taken from its agent so far. Changes nothing. */
  check(msg: SequencedMessage): SequenceVerdict {
    const last = this.newest.get(keyOf(msg));
    if (!last) return { ok: true, restarted: false };
    const order = compareIncarnations(msg.incarnation, last.incarnation);
    if (order < 0) return { ok: false, why: 'older-incarnation', current: last.incarnation };
    if (order > 0) return { ok: true, restarted: true, previous: last.incarnation };
    return msg.seq > last.seq ? { ok: true, restarted: false } : { ok: false, why: 'replay', lastSeq: last.seq };
  }

  /** Records `msg` as the newest taken from its agent (after `check` said it is in order). */
  take(msg: SequencedMessage): void {
    this.newest.set(keyOf(msg), { incarnation: msg.incarnation, seq: msg.seq });
  }

  /** `check`, then `take` when in order. */
  admit(msg: SequencedMessage): SequenceVerdict {
    const verdict = this.check(msg);
    if (verdict.ok) this.take(msg);
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
