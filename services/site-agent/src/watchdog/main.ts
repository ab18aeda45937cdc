/**
 * The site agent's watchdog process (see watchdog.ts), started by the agent, never by hand:
 *   tsx services/site-agent/src/watchdog/main.ts --config FILE --site SITE --incarnation ID
 *        --lease-ttl-ms N --heartbeat-ms N --lease-file FILE --agent-pid PID
 * Reads one JSON line per heartbeat round of its agent on stdin; EOF means the agent is gone.
 * Exit codes (WATCHDOG_EXIT): 0 a later agent run took its duty over, 3 it fenced, 1 failure, 2 bad arguments.
 */
import { createInterface } from 'node:readline';
import { writeSync, closeSync } from 'node:fs';
import type { WorkloadRole } from '@drc/contracts';
import { createLogger, loadConfigOrExit, parseProcessArgs, runProcess } from '@drc/runtime';
import type { WorkloadDriver } from '../drivers/driver';
import { driverFactory } from '../drivers/registry';
import { setupsForSite } from '../workloads';
import { hungAfterMs, readLease, WATCHDOG_EXIT, WATCHED_DRIVER_TYPES, watchdogSparesWhy, watchdogVerdict, writeLease, type WatchdogBeat, type WatchState } from './watchdog';

const HELP = `drc site agent watchdog: started by the site agent; fences this site's primaries when the
agent dies and no agent renews its lease in time. Not meant to be run by hand.
`;

/** Resolves with `p`, or with `fallback` after `ms`. */
function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(fallback), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      () => (clearTimeout(t), resolve(fallback)),
    );
  });
}

async function main(): Promise<number> {
  const parsed = parseProcessArgs(
    {
      config: { type: 'string' },
      site: { type: 'string' },
      incarnation: { type: 'string' },
      'lease-ttl-ms': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      'lease-file': { type: 'string' },
      'agent-pid': { type: 'string' },
    },
    HELP,
  );
  if (!parsed.ok) return parsed.exit;
  const a = parsed.values;
  const leaseTtlMs = Number(a['lease-ttl-ms']);
  const heartbeatMs = Number(a['heartbeat-ms']);
  if (!a.config || !a.site || !a.incarnation || !a['lease-file'] || !(leaseTtlMs > 0) || !(heartbeatMs > 0)) {
    process.stderr.write(`missing or bad arguments\n\n${HELP}`);
    return WATCHDOG_EXIT.usage;
  }
  const [siteId, me, leaseFile, agentPid] = [a.site, a.incarnation, a['lease-file'], a['agent-pid']];
  const logger = createLogger('site-agent-watchdog', { siteId, agentIncarnation: me, agentPid: Number(agentPid) });
  // Our stdout is the agent's: when whoever read it is gone, a failed log write must not end us.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  // Detached in a session of our own; a supervisor that signals the agent's whole group or unit
  // must not end the one process that fences for it.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => logger.warn({ signal: sig }, 'signal ignored: the watchdog stays on duty until an agent takes it over or it has fenced'));

  const config = loadConfigOrExit(a.config);
  if (typeof config === 'number') return config;
  const drivers: Array<{ workloadId: string; driver: WorkloadDriver }> = [];
  /** Workloads whose primary here is never fenced by the watchdog, with why (invariant 1a). */
  const spared = new Map<string, string>();
  for (const setup of setupsForSite(config, siteId, logger)) {
    const type = config.workloads.find((w) => w.id === setup.workloadId)!.driver.type;
    if (!WATCHED_DRIVER_TYPES.has(type)) continue;
    const why = watchdogSparesWhy(config, setup.workloadId);
    if (why !== undefined) {
      spared.set(setup.workloadId, why);
      logger.info({ workloadId: setup.workloadId }, `watchdog leaves ${setup.workloadId} alone: ${why}`);
      continue;
    }
    drivers.push({ workloadId: setup.workloadId, driver: await (await driverFactory(type))(setup) });
  }

  // On duty: take the lease file over. A lease an earlier run still holds is the coordinator's
  // view of this site until our agent renews it; without one (first start, or it lapsed and the
  // earlier watchdog fenced), there is nothing to fence for until our agent renews the lease.
  const startedAt = Date.now();
  const earlier = readLease(leaseFile);
  const inherited = earlier && earlier.owner !== me && earlier.leaseDeadline > startedAt ? earlier.leaseDeadline : undefined;
  // Our agent started just before us: silence is measured from here, so a restarted agent still
  // starting up when the lease it inherited ends is not taken for a hung one.
  const state: WatchState = { ...(inherited !== undefined ? { leaseDeadline: inherited } : {}), startedAt, agentGone: false, takenOver: false };
  writeLease(leaseFile, { owner: me, pid: process.pid, leaseDeadline: inherited ?? 0 });
  const watched = drivers.map((d) => d.workloadId);
  const iso = (t: number | undefined) => (t === undefined ? 'none held yet' : new Date(t).toISOString());
  logger.info({ watched, leaseDeadline: iso(inherited), ...(earlier && earlier.owner !== me ? { tookOverFrom: earlier.owner } : {}) }, `watchdog on duty for ${watched.join(', ')}`);
  try {
    writeSync(3, 'ready\n');
    closeSync(3);
  } catch {
    /* started without the control pipe */
  }

  const roles = new Map<string, WorkloadRole>();
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      let b: WatchdogBeat;
      try {
        b = JSON.parse(line) as WatchdogBeat;
      } catch {
        return;
      }
      state.lastBeatAt = Date.now();
      for (const [w, r] of Object.entries(b.roles ?? {})) roles.set(w, r);
      if (typeof b.leaseDeadline === 'number' && b.leaseDeadline !== state.leaseDeadline) {
        state.leaseDeadline = b.leaseDeadline;
        const owner = readLease(leaseFile)?.owner;
        if (owner === me || owner === undefined) writeLease(leaseFile, { owner: me, pid: process.pid, leaseDeadline: b.leaseDeadline });
      }
    })
    .on('close', () => {
      state.agentGone = true;
      if (state.leaseDeadline === undefined) return;
      const inMs = state.leaseDeadline - Date.now();
      logger.warn({ leaseDeadline: iso(state.leaseDeadline), primaries: [...roles].filter(([, r]) => r === 'primary').map(([w]) => w) }, inMs > 0 ? `agent process gone: fencing this site's primaries in ${inMs} ms, when its lease ends, unless a restarted agent takes over first` : "agent process gone after its lease ended: fencing this site's primaries now");
    });

  const silentMs = hungAfterMs(leaseTtlMs, heartbeatMs);
  return new Promise<number>((resolve) => {
    const tick = setInterval(() => {
      const owner = readLease(leaseFile)?.owner;
      state.takenOver = owner !== undefined && owner !== me;
      const verdict = watchdogVerdict(state, Date.now(), silentMs);
      if (verdict === 'wait') return;
      clearInterval(tick);
      if (verdict === 'stand down') {
        if (!state.takenOver) logger.info('agent process gone before it renewed a lease: nothing to fence for, exiting');
        else logger.info({ by: owner }, state.agentGone ? 'a restarted agent took the duty over within the lease: stood down, nothing fenced' : 'an agent of this site started later took the duty over: stood down');
        resolve(WATCHDOG_EXIT.takenOver);
        return;
      }
      void fenceAll(state).then(() => resolve(WATCHDOG_EXIT.fenced));
    }, 50);
  });

  /** Fences every watched copy that is primary: the ones last observed so at once, the others if a probe says so. */
  async function fenceAll(s: WatchState): Promise<void> {
    const now = Date.now();
    const why = s.agentGone ? 'agent gone' : `agent silent for ${now - (s.lastBeatAt ?? s.startedAt)} ms`;
    logger.warn({ leaseDeadline: iso(s.leaseDeadline), lateMs: now - (s.leaseDeadline ?? now), why }, `lease ended with no agent renewing it (${why}): the site is failed over now, fencing its primaries`);
    for (const [workloadId, reason] of spared) if (roles.get(workloadId) === 'primary') logger.warn({ workloadId }, `primary of ${workloadId} left running: ${reason}`);
    await Promise.all(
      drivers.map(async ({ workloadId, driver }) => {
        let role = roles.get(workloadId);
        if (role !== 'primary') role = (await within(driver.probe(), 1000, { role: 'unknown' as const, healthy: false })).role;
        if (role !== 'primary') {
          logger.info({ workloadId, role: role ?? 'unknown' }, 'not a primary here: nothing to fence');
          return;
        }
        const t = Date.now();
        try {
          const out = await driver.execute('fence', { reason: 'watchdog: agent gone past its lease' }, { commandId: `watchdog-fence:${workloadId}:${t}`, epoch: 0, deadline: t + 30_000, signal: new AbortController().signal });
          logger.warn({ workloadId, tookMs: Date.now() - t, ...out.detail }, 'watchdog fenced the primary here');
        } catch (e) {
          logger.error({ err: e, workloadId }, 'watchdog could not fence the primary here');
        }
      }),
    );
    await Promise.all(drivers.map((d) => d.driver.close().catch(() => undefined)));
  }
}

runProcess('site agent watchdog', main);
