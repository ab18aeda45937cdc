import { describe, expect, it } from 'vitest';
import { AgentSequencer, outOfOrderReason, type SequencedMessage } from './agent-sequencer';

const run1 = { id: 'aaaa', startedAt: 1_000 };
const run2 = { id: '0000', startedAt: 2_000 }; // later start, smaller id: the start time decides
const msg = (incarnation: { id: string; startedAt: number }, seq: number, agentId = 'A@host'): SequencedMessage => ({ siteId: 'A', agentId, incarnation, seq });

describe('agent sequencer - messages are ordered per agent incarnation', () => {
  it('takes increasing seqs of one run and refuses a repeated or reordered one', () => {
    const s = new AgentSequencer();
    expect(s.admit(msg(run1, 5))).toEqual({ ok: true, restarted: false });
    expect(s.admit(msg(run1, 6))).toEqual({ ok: true, restarted: false });
    expect(s.admit(msg(run1, 6))).toEqual({ ok: false, why: 'replay', lastSeq: 6 });
    expect(s.admit(msg(run1, 2))).toEqual({ ok: false, why: 'replay', lastSeq: 6 });
  });

  it('a restarted agent (a later run, seq from 0) starts the order over; its earlier run is never taken again', () => {
    const s = new AgentSequencer();
    s.admit(msg(run1, 40_000));
    expect(s.admit(msg(run2, 0))).toEqual({ ok: true, restarted: true, previous: run1 });
    expect(s.admit(msg(run2, 1))).toEqual({ ok: true, restarted: false });
    const replayed = s.admit(msg(run1, 40_001));
    expect(replayed).toEqual({ ok: false, why: 'older-incarnation', current: run2 });
    expect(s.admit(msg(run2, 1))).toMatchObject({ ok: false, why: 'replay' });
    if (replayed.ok) throw new Error('unreachable');
    expect(outOfOrderReason('heartbeat', msg(run1, 40_001), replayed).reason).toMatch(/^heartbeat from an older incarnation of agent A@host \(aaaa, started 1970-01-01T00:00:01.000Z\)/);
  });

  it('two runs started in the same millisecond are told apart by id, the same way every time', () => {
    const s = new AgentSequencer();
    s.admit(msg({ id: 'b', startedAt: 7 }, 3));
    expect(s.admit(msg({ id: 'a', startedAt: 7 }, 9))).toMatchObject({ ok: false, why: 'older-incarnation' });
    expect(s.admit(msg({ id: 'c', startedAt: 7 }, 0))).toMatchObject({ ok: true, restarted: true });
  });

  it('check changes nothing until take; agents are ordered independently', () => {
    const s = new AgentSequencer();
    s.admit(msg(run1, 1));
    expect(s.check(msg(run1, 2))).toEqual({ ok: true, restarted: false });
    expect(s.check(msg(run1, 2))).toEqual({ ok: true, restarted: false });
    s.take(msg(run1, 2));
    expect(s.check(msg(run1, 2))).toMatchObject({ ok: false });
    expect(s.admit(msg(run1, 0, 'A@other-host'))).toEqual({ ok: true, restarted: false });
  });
});

describe('agent sequencer - a host clock stepped back', () => {
  it('takes a never-heard, older-looking live run once the newest has been silent past the limit, not before, and not from a stored stream', () => {
    const s = new AgentSequencer({ supersedeSilentAfterMs: 3_000 });
    s.admit(msg(run2, 10), { now: 100_000 });
    expect(s.admit(msg(run1, 0), { now: 102_999, live: true })).toMatchObject({ ok: false, why: 'older-incarnation' });
    expect(s.admit(msg(run1, 0), { now: 103_000 }), 'not live: maybe a stored backlog').toMatchObject({ ok: false, why: 'older-incarnation' });
    expect(s.admit(msg(run1, 0), { now: 103_000, live: true })).toEqual({ ok: true, restarted: true, previous: run2 });
    expect(s.admit(msg(run1, 1), { now: 103_001, live: true })).toEqual({ ok: true, restarted: false });
    // Within the new run, order holds as before.
    expect(s.admit(msg(run1, 1), { now: 103_002, live: true })).toMatchObject({ ok: false, why: 'replay' });
  });

  it('a run once replaced is never taken again, though its start time looks newer (no flip-flop)', () => {
    const s = new AgentSequencer({ supersedeSilentAfterMs: 3_000 });
    s.admit(msg(run2, 10), { now: 0 });
    s.admit(msg(run1, 0), { now: 5_000, live: true }); // the clock stepped back: run1 replaced run2
    expect(s.admit(msg(run2, 11), { now: 5_001, live: true })).toEqual({ ok: false, why: 'older-incarnation', current: run1 });
    expect(s.admit(msg(run2, 12), { now: 60_000, live: true })).toMatchObject({ ok: false, why: 'older-incarnation' });
    const run3 = { id: 'run3', startedAt: 3_000 };
    expect(s.admit(msg(run3, 0), { now: 60_001, live: true })).toEqual({ ok: true, restarted: true, previous: run1 });
    expect(s.admit(msg(run1, 1), { now: 60_002, live: true })).toMatchObject({ ok: false, why: 'older-incarnation' });
  });

  it('without a limit (or a clock), an older run is never taken', () => {
    const s = new AgentSequencer();
    s.admit(msg(run2, 10), { now: 0 });
    expect(s.admit(msg(run1, 0), { now: 1e12, live: true })).toMatchObject({ ok: false, why: 'older-incarnation' });
  });

  it('a run the heartbeats established is taken for observations too, and no other older run', () => {
    const s = new AgentSequencer();
    s.admit(msg(run2, 10));
    expect(s.check(msg(run1, 0), { established: run2 })).toMatchObject({ ok: false, why: 'older-incarnation' });
    expect(s.admit(msg(run1, 0), { established: run1 })).toEqual({ ok: true, restarted: true, previous: run2 });
    expect(s.current(msg(run1, 0))).toEqual(run1);
  });
});
