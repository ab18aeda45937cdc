import type { Prng } from '../kernel/prng';
import type { Scheduler, SimProcess } from '../kernel/scheduler';

/** One direction-agnostic link's behaviour: latency = base + uniform jitter (ms). */
export interface LinkSpec {
  baseMs: number;
  jitterMs: number;
}

const keyOf = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);
/** Link keys by sender and receiver, built once (a send asked for them three times per message). */
const keys = new Map<string, Map<string, { link: string; dir: string }>>();
const pair = (a: string, b: string) => {
  let m = keys.get(a);
  if (!m) keys.set(a, (m = new Map()));
  let p = m.get(b);
  if (!p) m.set(b, (p = { link: keyOf(a, b), dir: `${a}>${b}` }));
  return p;
};
const key = (a: string, b: string) => pair(a, b).link;

/**
 * The simulated network between named nodes (`nats`, `coord-1`, `agent-A`, …). A message sent
 * from one node to another is delivered after the link's latency, in order per direction (a TCP
 * connection), to the receiving node's process (so a paused receiver gets it late and a crashed
 * one never). A cut link drops what is sent while it is cut and what is still in flight when it
 * is cut (the connection breaks). Every choice of latency comes from the network's own stream.
 */
export class Network {
  private readonly links = new Map<string, LinkSpec>();
  private readonly cuts = new Set<string>();
  /** Bumped at every cut of a link: messages sent before it are dropped on arrival. */
  private readonly generation = new Map<string, number>();
  private readonly lastArrival = new Map<string, number>();
  /** The process that runs each node (for delivery). */
  private readonly procs = new Map<string, SimProcess>();
  sent = 0;
  dropped = 0;

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: Prng,
    private readonly defaults: LinkSpec = { baseMs: 1, jitterMs: 2 },
  ) {}

  attach(node: string, proc: SimProcess): void {
    this.procs.set(node, proc);
  }

  setLink(a: string, b: string, spec: LinkSpec): void {
    this.links.set(key(a, b), spec);
  }

  cut(a: string, b: string): void {
    const k = key(a, b);
    if (this.cuts.has(k)) return;
    this.cuts.add(k);
    this.generation.set(k, (this.generation.get(k) ?? 0) + 1);
    this.sched.trace.record(this.sched.now, 'net', 'cut', `${a} x ${b}`);
  }

  heal(a: string, b: string): void {
    if (!this.cuts.delete(key(a, b))) return;
    this.sched.trace.record(this.sched.now, 'net', 'heal', `${a} - ${b}`);
  }

  isCut(a: string, b: string): boolean {
    return this.cuts.has(key(a, b));
  }

  /** True when `to`'s process is running (not crashed) and the link is not cut. */
  reachable(from: string, to: string): boolean {
    if (from === to) return true;
    if (this.isCut(from, to)) return false;
    const p = this.procs.get(to);
    return p !== undefined && p.state !== 'crashed';
  }

  /** Latency of one message on a link (ms), drawn from the network's stream. */
  latency(a: string, b: string, extraMs = 0): number {
    const spec = this.links.get(key(a, b)) ?? this.defaults;
    return spec.baseMs + this.rng.next() * spec.jitterMs + extraMs;
  }

  /**
   * Sends a message: `deliver` runs on `to`'s process after the latency, unless the link is cut
   * now or before it arrives, or `to` crashed meanwhile. Returns false when dropped at once.
   */
  send(from: string, to: string, label: string, deliver: () => void, extraMs = 0): boolean {
    this.sent++;
    const proc = this.procs.get(to);
    if (!proc || !this.reachable(from, to)) {
      this.dropped++;
      return false;
    }
    const { link: k, dir } = pair(from, to);
    const gen = this.generation.get(k) ?? 0;
    const at = Math.max(this.sched.now + this.latency(from, to, extraMs), this.lastArrival.get(dir) ?? 0);
    this.lastArrival.set(dir, at);
    this.sched.at(at, () => {
      if ((this.generation.get(k) ?? 0) !== gen || this.cuts.has(k)) {
        this.dropped++;
        return;
      }
      deliver();
    }, label, proc);
    return true;
  }
}
