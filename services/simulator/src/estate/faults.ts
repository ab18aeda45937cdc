import type { Prng } from '../kernel/prng';

/** Every kind of fault the simulator can inject. */
export const FAULT_KINDS = [
  'agentCrash',
  'agentPause',
  'coordCrash',
  'coordPause',
  'natsRestart',
  'cutSiteNats',
  'cutCoordNats',
  'cutWitness',
  'cutWal',
  'siteDown',
  'hostRestart',
  'clockStep',
  'lagSpike',
  'storeOutage',
  // rates for the whole run
  'probeFlap',
  'probeStall',
  'slowCommands',
  'commandFailures',
  'volatileLoss',
  'duplicates',
  'ackLoss',
  'kvFaults',
] as const;
/**
 * Kinds added after seeds were recorded: each is decided from a stream of its own, so adding
 * one leaves every recorded seed's plan as it was (a failing seed keeps failing the same way).
 */
export const LATER_FAULT_KINDS = ['forgedResults'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number] | (typeof LATER_FAULT_KINDS)[number];

const RATE_KINDS: ReadonlySet<FaultKind> = new Set(['probeFlap', 'probeStall', 'slowCommands', 'commandFailures', 'volatileLoss', 'duplicates', 'ackLoss', 'kvFaults', 'forgedResults']);

/** One scheduled fault: at `at` (ms since the start), on `target`, healed after `durationMs`. */
export interface FaultEvent {
  at: number;
  kind: FaultKind;
  target: string;
  /** A second target (the other end of a cut link). */
  other?: string;
  durationMs: number;
  /** Signed amount (a clock step). */
  amount?: number;
}

export interface FaultPlan {
  /** Kinds this seed enabled (swarm testing). */
  enabled: FaultKind[];
  /** Rates of the whole-run kinds (0 when off). */
  rates: Record<string, number>;
  events: FaultEvent[];
  /** Only pauses and restarts shorter than the lease: no failover may happen at all. */
  benign: boolean;
}

export interface PlanShape {
  sites: string[];
  coordinators: string[];
  workloads: string[];
  durationMs: number;
  leaseTtlMs: number;
  /** No fault starts before this (ms): the estate settles first. */
  warmupMs: number;
  /** No fault starts in the last part of the run (ms): the estate may heal. */
  quietTailMs: number;
}

/**
 * Pure (given the stream). Swarm testing (Groce et al.): each seed turns on a random subset of
 * fault kinds, each with a random rate, so that a fault that masks another (a NATS restart that
 * resets the very redelivery a bug needs) is absent from many runs. One seed in four is benign:
 * only process pauses and restarts shorter than the lease, after which nothing may fail over.
 */
export function planFaults(rng: Prng, shape: PlanShape): FaultPlan {
  const benign = rng.chance(0.25);
  const enabled: FaultKind[] = (benign
    ? (['agentCrash', 'agentPause', 'coordCrash', 'coordPause'] as FaultKind[]).filter(() => rng.chance(0.7))
    : FAULT_KINDS.filter(() => rng.chance(0.4))) as FaultKind[];
  if (!benign) for (const k of LATER_FAULT_KINDS) if (rng.fork(`later-${k}`).chance(0.4)) enabled.push(k);
  const rates: Record<string, number> = {};
  for (const k of enabled) {
    if (!RATE_KINDS.has(k)) continue;
    if (k === 'forgedResults') rates[k] = rng.fork('later-forgedResults-rate').range(0.3, 1);
    else rates[k] = rng.range(0.005, k === 'volatileLoss' || k === 'duplicates' ? 0.3 : 0.1);
  }
  const events: FaultEvent[] = [];
  const start = shape.warmupMs;
  const end = shape.durationMs - shape.quietTailMs;
  const short = () => rng.int(50, Math.floor(shape.leaseTtlMs * 0.6)); // well under the lease
  for (const kind of enabled) {
    if (RATE_KINDS.has(kind)) continue;
    const perMinute = rng.range(0.3, 3);
    let t = start + rng.next() * (60_000 / perMinute);
    while (t < end) {
      const e = eventOf(kind, Math.floor(t), rng, shape, benign, short);
      if (e) events.push(e);
      t += rng.range(0.2, 1.8) * (60_000 / perMinute);
    }
  }
  events.sort((a, b) => a.at - b.at || a.kind.localeCompare(b.kind));
  return { enabled, rates, events, benign };
}

function eventOf(kind: FaultKind, at: number, rng: Prng, s: PlanShape, benign: boolean, short: () => number): FaultEvent | undefined {
  const long = () => rng.int(100, s.leaseTtlMs * 6);
  switch (kind) {
    case 'agentCrash':
    case 'agentPause':
      return { at, kind, target: rng.pick(s.sites), durationMs: benign ? short() : rng.chance(0.5) ? short() : long() };
    case 'coordCrash':
    case 'coordPause':
      return { at, kind, target: rng.pick(s.coordinators), durationMs: benign ? short() : rng.chance(0.5) ? short() : long() };
    case 'natsRestart':
      return { at, kind, target: 'nats', durationMs: rng.int(100, 5000) };
    case 'cutSiteNats':
      return { at, kind, target: rng.pick(s.sites), durationMs: long() };
    case 'cutCoordNats':
      return { at, kind, target: rng.pick(s.coordinators), durationMs: long() };
    case 'cutWitness':
    case 'cutWal': {
      const a = rng.pick(s.sites);
      const b = rng.pick(s.sites.filter((x) => x !== a));
      return { at, kind, target: a, other: b, durationMs: long() };
    }
    case 'siteDown':
      return { at, kind, target: rng.pick(s.sites), durationMs: rng.int(s.leaseTtlMs, s.leaseTtlMs * 20) };
    case 'hostRestart':
      return { at, kind, target: rng.pick(s.sites), other: rng.pick(s.workloads), durationMs: rng.int(100, s.leaseTtlMs * 4) };
    case 'clockStep':
      return { at, kind, target: rng.pick([...s.sites.map((x) => `agent-${x}`), ...s.coordinators]), durationMs: 0, amount: rng.int(-5000, 5000) };
    case 'lagSpike':
      return { at, kind, target: rng.pick(s.sites), other: rng.pick(s.workloads), durationMs: rng.int(1000, 60_000), amount: rng.int(500, 40_000) };
    case 'storeOutage':
      return { at, kind, target: 'store', durationMs: rng.int(100, 10_000) };
    default:
      return undefined;
  }
}
