import { createSubjects, parseDrcConfig } from '@drc/contracts';
import { createPostgresEventStore } from '@drc/event-store';
import { connectNats, type Logger, type NatsConnection } from '@drc/runtime';
import { createTestDatabase, deleteStreams, eventually, natsUrl, uniquePrefix } from '@drc/test-kit';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../coordinator';
import { LeaderElector, type LeadershipState } from './elector';
import { natsElector } from './nats-elector.fixture';

/**
 * Issue 17 item 7: in the scale benchmark on a loaded machine the only coordinator stepped down
 * during startup, starved by its own work (its lease renewal waited behind it), and about 2,000
 * inputs failed with NotLeaderError. Here the event loop is held (a busy wait, longer than the
 * lease TTL and than the KV request timeout) just as a renewal is on its way, with no other
 * candidate anywhere: the renewal's answer is then taken as lost.
 */

interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps what it is told (the step-down and stall reasons are asserted on). */
function capturingLogger(lines: LogLine[]): Logger {
  const at = (level: string) => (a: unknown, b?: unknown) => {
    const [fields, msg] = typeof a === 'string' ? [{}, a] : [(a ?? {}) as Record<string, unknown>, String(b ?? '')];
    lines.push({ level, msg, fields });
  };
  const logger = { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal'), child: () => logger, level: 'debug' };
  return logger as unknown as Logger;
}

/** Holds the event loop for `ms` right after the next lease write is sent (the coordinator's own work taking the loop). */
function starveAfterNextLeaseWrite(elector: LeaderElector, ms: number): Promise<void> {
  const kv = (elector as unknown as { kv: { update: (...a: unknown[]) => Promise<number> } }).kv;
  const update = kv.update.bind(kv);
  return new Promise<void>((resolve) => {
    kv.update = (...args: unknown[]) => {
      kv.update = update;
      const sent = update(...args);
      const until = Date.now() + ms;
      while (Date.now() < until) {
        /* busy: nothing else runs */
      }
      resolve();
      return sent;
    };
  });
}

const BLOCK_MS = 6_000; // longer than the TTL below and than the KV request timeout (5 s)
const TTL_MS = 600;

describe('leadership - a coordinator starved by its own work keeps leading when nobody else is there', () => {
  let nc: NatsConnection;
  const bucket = uniquePrefix('STARVE').toUpperCase();
  beforeAll(async () => {
    nc = await connectNats({ url: natsUrl(), name: 'starved-leader-test' });
  });
  afterAll(async () => {
    await new Kvm(nc).open(bucket).then((kv) => kv.destroy()).catch(() => undefined);
    await nc.close();
  });

  it('a lone leader whose event loop was blocked past its TTL during a renewal leads again at once, at the same epoch, and logs the stall', async () => {
    const lines: LogLine[] = [];
    const elector = natsElector({ nc, bucket, candidateId: 'only', ttlMs: TTL_MS, logger: capturingLogger(lines) });
    const changes: LeadershipState[] = [];
    elector.onChange((s) => changes.push(s));
    await elector.start();
    try {
      expect(elector.isLeader()).toBe(true);
      const epoch = elector.current.leaderEpoch;
      await starveAfterNextLeaseWrite(elector, BLOCK_MS);
      // Right after the block its lease is past due: it must not act until it has renewed.
      expect(elector.isLeader()).toBe(false);
      await eventually(() => elector.isLeader(), 5_000, 10);
      expect(changes.map((c) => c.leader), 'leadership changes seen (false = stepped down)').toEqual([true]);
      expect(elector.current.leaderEpoch).toBe(epoch);
      const stall = lines.find((l) => l.level === 'warn' && /event loop/.test(l.msg));
      expect(stall, `warnings: ${JSON.stringify(lines.filter((l) => l.level !== 'info'))}`).toBeDefined();
      expect(stall!.fields.stalledMs).toBeGreaterThanOrEqual(TTL_MS);
    } finally {
      await elector.stop();
    }
  });

  it('a lone leader whose lease vanished while it was starved takes it again at once, with a higher epoch, saying why it stepped down', async () => {
    const bucket2 = `${bucket}_2`;
    const lines: LogLine[] = [];
    const elector = natsElector({ nc, bucket: bucket2, candidateId: 'only', ttlMs: TTL_MS, logger: capturingLogger(lines) });
    await elector.start();
    try {
      const epoch = elector.current.leaderEpoch;
      // The key is gone when it comes back (a purge; a bucket recreated): no leader at all.
      const kv = await new Kvm(nc).open(bucket2);
      const blocked = starveAfterNextLeaseWrite(elector, BLOCK_MS);
      await blocked;
      await kv.purge('leader');
      await eventually(() => elector.isLeader(), 5_000, 10);
      expect(elector.current.leaderEpoch).toBeGreaterThan(epoch);
      expect(lines.some((l) => l.level === 'warn' && /stepping down|lost/.test(l.msg))).toBe(true);
    } finally {
      await elector.stop();
      await new Kvm(nc).open(bucket2).then((kv) => kv.destroy()).catch(() => undefined);
    }
  });

  it('a coordinator starved past its lease TTL by its own work goes on leading without standing by and rehydrating again, and reports the loop delay', async () => {
    const prefix = uniquePrefix('starved');
    const db = await createTestDatabase('starved');
    const parsed = parseDrcConfig({
      nats: { url: natsUrl(), prefix },
      coordinator: { startupGraceMs: 60_000 },
      sites: [{ id: 'A' }, { id: 'B' }],
      workloads: Array.from({ length: 20 }, (_, i) => ({ id: `w${i}`, driver: 'sim', primarySite: 'A', replicaSites: ['B'] })),
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const store = createPostgresEventStore({ url: db.url });
    const cnc = await connectNats({ url: natsUrl(), name: 'starved-coordinator' });
    const lines: LogLine[] = [];
    const coordinator = new Coordinator({ config: parsed.value, store, nc: cnc, logger: capturingLogger(lines), coordinatorId: 'starved', leaderTtlMs: TTL_MS });
    try {
      await coordinator.start();
      expect(coordinator.isLeader).toBe(true);
      const epoch = coordinator.leadership.leaderEpoch;
      // The coordinator's elector sits in its core (the shell wires the core to NATS).
      const elector = (coordinator as unknown as { core: { elector: LeaderElector } }).core.elector;
      await starveAfterNextLeaseWrite(elector, BLOCK_MS);
      await eventually(() => coordinator.isLeader, 5_000, 10);
      // Some time to let a step-down that was coming show itself.
      await new Promise((r) => setTimeout(r, 1_000));
      expect(coordinator.isLeader).toBe(true);
      expect(coordinator.leadership.leaderEpoch).toBe(epoch);
      const leadershipLines = lines.filter((l) => /standing by|acting as leader|became leader|stepping down/.test(l.msg)).map((l) => l.msg);
      expect(leadershipLines).toEqual(['became leader', 'acting as leader']);
      expect(coordinator.workloadViews()).toHaveLength(20);
      const metric = await coordinator.metrics.registry.getSingleMetricAsString('drc_event_loop_delay_seconds');
      const value = Number(/^drc_event_loop_delay_seconds\{stat="max"\} (\S+)$/m.exec(metric)?.[1]);
      expect(value, metric).toBeGreaterThanOrEqual(1);
    } finally {
      await coordinator.stop();
      await cnc.close();
      await store.close();
      await deleteStreams(createSubjects(prefix).streams.agents.replace(/_AGENTS$/, '_')).catch(() => undefined);
      await db.drop();
    }
  });
});
