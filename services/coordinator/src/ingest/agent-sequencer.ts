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
  /** Ids of the runs this agent's newest replaced, newest last (bounded): never taken again. */
  replaced: string[];
}

/** Runs remembered per agent as replaced (a replay of any of them is refused). */
const REPLACED_KEPT = 16;

export interface AgentSequencerOptions {
  /**
   * For live messages (`OrderContext.live`), a run that looks older than the newest but was never
   * heard before is taken once the newest has been silent this long (ms; the site lease). Start
   * times come from the agents' clocks: a host whose clock stepped back while its agent restarted
   * starts a run that looks older than the dead one, and refusing it for ever would leave the
   * site blind until the coordinator restarts (lost, or suspect for ever when witnesses still
   * reach the new run). Unset: never.
   */
  supersedeSilentAfterMs?: number;
}

/** What the caller knows beyond the message. */
export interface OrderContext {
  /** The coordinator's clock. */
  now?: number;
  /**
   * The message came live (core NATS heartbeats), not from a stored stream that may redeliver an
   * old backlog: a live message of a never-heard run proves that run is running now.
   */
  live?: boolean;
  /**
   * The incarnation another kind of message from the agent (its heartbeats) has established: a
   * message of that run is taken although it looks older than the newest of this kind.
   */
  established?: AgentIncarnation | undefined;
}

/**
 * Orders one kind of agent message per agent (site and agent id) and incarnation. An agent's
 * `seq` starts over with every process while its id stays the same, so `seq` alone would take a
 * restarted agent for a replay of its earlier run and leave its site blind (issue 17). Within an
 * incarnation seq must increase; a newer incarnation (later start) starts the order over; a run
 * once replaced is never taken again, whatever its start time says. Not pure (remembers the
 * newest message per agent), no I/O, no clock of its own; never throws.
 */
export class AgentSequencer {
  private readonly newest = new Map<string, Newest>();

  constructor(private readonly opts: AgentSequencerOptions = {}) {}

  /** Whether `msg` comes after everything taken from its agent so far. Changes nothing. */
  check(msg: SequencedMessage, ctx: OrderContext = {}): SequenceVerdict {
    const last = this.newest.get(keyOf(msg));
    if (!last) return { ok: true, restarted: false };
    const order = compareIncarnations(msg.incarnation, last.incarnation);
    if (order === 0) return msg.seq > last.seq ? { ok: true, restarted: false } : { ok: false, why: 'replay', lastSeq: last.seq };
    const refused: SequenceVerdict = { ok: false, why: 'older-incarnation', current: last.incarnation };
    if (last.replaced.includes(msg.incarnation.id)) return refused; // a run already replaced, replayed
    const restarted: SequenceVerdict = { ok: true, restarted: true, previous: last.incarnation };
    if (order > 0) return restarted;
    if (ctx.established !== undefined && compareIncarnations(msg.incarnation, ctx.established) === 0) return restarted;
    const limit = this.opts.supersedeSilentAfterMs;
    const silentFor = ctx.now !== undefined && last.takenAt !== undefined ? ctx.now - last.takenAt : undefined;
    if (ctx.live && limit !== undefined && silentFor !== undefined && silentFor >= limit) return restarted;
    return refused;
  }

  /** Records `msg` as the newest taken from its agent (after `check` said it is in order). */
  take(msg: SequencedMessage, now?: number): void {
    const key = keyOf(msg);
    const last = this.newest.get(key);
    let replaced = last?.replaced ?? [];
    if (last && compareIncarnations(msg.incarnation, last.incarnation) !== 0) replaced = [...replaced, last.incarnation.id].slice(-REPLACED_KEPT);
    this.newest.set(key, { incarnation: msg.incarnation, seq: msg.seq, replaced, ...(now !== undefined ? { takenAt: now } : {}) });
  }

  /** `check`, then `take` when in order. */
  admit(msg: SequencedMessage, ctx: OrderContext = {}): SequenceVerdict {
    const verdict = this.check(msg, ctx);
    if (verdict.ok) this.take(msg, ctx.now);
    return verdict;
  }

  /** The newest incarnation taken from the agent that sent `msg`, if any. */
  current(msg: Pick<SequencedMessage, 'siteId' | 'agentId'>): AgentIncarnation | undefined {
    return this.newest.get(keyOf(msg))?.incarnation;
  }
}

function keyOf(msg: Pick<SequencedMessage, 'siteId' | 'agentId'>): string {
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
