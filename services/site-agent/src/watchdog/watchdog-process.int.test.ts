import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createLogger } from '@drc/runtime';
import { readLease, WATCHDOG_EXIT, WatchdogLink } from './watchdog';

/**
 * The watchdog process on its own, driven the way its agent drives it (a JSON line per heartbeat
 * round on its stdin), with a real exec-driver copy whose fence leaves a mark: when it fences
 * (agent gone, or alive but silent, past the lease deadline) and when it must not (an agent
 * beating with its lease lapsed decides for itself; a restarted agent takes over in time).
 */
const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'drc-watchdog-proc-'));
const copyFile = join(dir, 'svc@A.json');
const fenceMark = join(dir, 'fenced-at');
// A second primary at A whose failovers wait for an operator: nothing replaces it on its own.
const ledgerFile = join(dir, 'ledger@A.json');
const ledgerFenceMark = join(dir, 'ledger-fenced-at');
writeFileSync(
  join(dir, 'estate.yaml'),
  stringify({
    nats: { url: 'nats://127.0.0.1:4222', prefix: 'unused' },
    sites: [{ id: 'A' }, { id: 'B' }],
    workloads: [
      {
        id: 'svc',
        primarySite: 'A',
        replicaSites: ['B'],
        driver: {
          type: 'exec',
          sites: {
            A: {
              probe: { command: ['cat', copyFile] },
              actions: { fence: { command: `date +%s%3N > '${fenceMark}' && printf '%s' '{"role":"fenced","healthy":true}' > '${copyFile}' && echo '{}'` } },
            },
            B: { role: 'replica' },
          },
        },
      },
      {
        id: 'ledger',
        primarySite: 'A',
        replicaSites: ['B'],
        policy: { failoverMode: 'manual' },
        driver: {
          type: 'exec',
          sites: {
            A: {
              probe: { command: ['cat', ledgerFile] },
              actions: { fence: { command: `date +%s%3N > '${ledgerFenceMark}' && printf '%s' '{"role":"fenced","healthy":true}' > '${ledgerFile}' && echo '{}'` } },
            },
            B: { role: 'replica' },
          },
        },
      },
    ],
  }),
);

interface Watchdog {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  ready: Promise<void>;
  beat(b: Record<string, unknown>): void;
}
const running = new Set<Watchdog>();

function startWatchdog(incarnation: string, o: { leaseTtlMs?: number; heartbeatMs?: number } = {}): Watchdog {
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--config', join(dir, 'estate.yaml'), '--site', 'A', '--incarnation', incarnation, '--lease-ttl-ms', String(o.leaseTtlMs ?? 1500), '--heartbeat-ms', String(o.heartbeatMs ?? 100), '--lease-file', join(dir, 'lease.json'), '--agent-pid', String(process.pid)], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const ready = new Promise<void>((resolve, reject) => {
    (child.stdio[3] as NodeJS.ReadableStream).on('data', () => resolve());
    void exited.then(() => reject(new Error(`watchdog exited before it was on duty:\n${out}`)));
  });
  const w: Watchdog = { child, output: () => out, exited, ready, beat: (b) => child.stdin!.write(`${JSON.stringify(b)}\n`) };
  running.add(w);
  void exited.then(() => running.delete(w));
  return w;
}
const primaryCopy = () => {
  writeFileSync(copyFile, JSON.stringify({ role: 'primary', healthy: true }));
  writeFileSync(ledgerFile, JSON.stringify({ role: 'primary', healthy: true }));
  rmSync(fenceMark, { force: true });
  rmSync(ledgerFenceMark, { force: true });
  rmSync(join(dir, 'lease.json'), { force: true });
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exitedWithin = (w: Watchdog, ms: number) => Promise.race([w.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), ms))]);

afterEach(async () => {
  for (const w of [...running]) {
    w.child.kill('SIGKILL');
    await w.exited;
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the agent watchdog process', () => {
  it('agent gone (its pipe closed): the primary is fenced at the lease deadline, not before, and the watchdog exits', async () => {
    primaryCopy();
    const w = startWatchdog('run-1');
    await w.ready;
    const deadline = Date.now() + 1500;
    w.beat({ leaseDeadline: deadline, roles: { svc: 'primary' } });
    w.child.stdin!.end();
    expect(await exitedWithin(w, 15_000), w.output()).toBe(WATCHDOG_EXIT.fenced);
    expect(Number(readFileSync(fenceMark, 'utf8')), 'fenced at (epoch ms), against the deadline').toBeGreaterThanOrEqual(deadline);
    expect(w.output()).toMatch(/agent process gone: fencing this site's primaries in \d+ ms/);
    expect(w.output()).toMatch(/watchdog fenced the primary here/);
  }, 30_000);

  it('agent alive but silent (hung) past its lease deadline: the primary is fenced', async () => {
    primaryCopy();
    const w = startWatchdog('run-1');
    await w.ready;
    // The last round it ran; then nothing (stopped, or its event loop stuck), its pipe still open.
    w.beat({ leaseDeadline: Date.now() + 500, roles: { svc: 'primary' } });
    expect(await exitedWithin(w, 15_000), w.output()).toBe(WATCHDOG_EXIT.fenced);
    expect(existsSync(fenceMark)).toBe(true);
    expect(w.output()).toMatch(/agent silent for \d+ ms/);
  }, 30_000);

  it('agent alive and beating with its lease lapsed (cut from NATS): nothing fenced, it decides for itself', async () => {
    primaryCopy();
    const w = startWatchdog('run-1');
    await w.ready;
    w.beat({ leaseDeadline: Date.now() + 300, roles: { svc: 'primary' } });
    // Heartbeat rounds that renew nothing, for well past the deadline and the silence allowed.
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      w.beat({ roles: { svc: 'primary' } });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(w.child.exitCode, w.output()).toBeNull();
    expect(existsSync(fenceMark), 'fenced while its agent was alive and beating').toBe(false);
  }, 30_000);

  it('agent gone before it ever renewed a lease (NATS unreachable at its start): nothing fenced, the watchdog exits', async () => {
    primaryCopy();
    const w = startWatchdog('run-1');
    await w.ready;
    w.beat({ roles: { svc: 'primary' } }); // a heartbeat round that renewed nothing
    w.child.stdin!.end();
    expect(await exitedWithin(w, 10_000), w.output()).toBe(WATCHDOG_EXIT.takenOver);
    expect(existsSync(fenceMark), 'fenced for a lease nobody held').toBe(false);
    expect(w.output()).toMatch(/gone before it renewed a lease: nothing to fence for/);
  }, 30_000);

  it('an agent restarted within the lease: the new run’s watchdog takes over, the old one stands down and nothing is fenced', async () => {
    primaryCopy();
    const old = startWatchdog('run-1');
    await old.ready;
    const deadline = Date.now() + 4000;
    old.beat({ leaseDeadline: deadline, roles: { svc: 'primary' } });
    old.child.stdin!.end(); // the agent dies
    const next = startWatchdog('run-2');
    await next.ready;
    expect(await exitedWithin(old, 10_000), old.output()).toBe(WATCHDOG_EXIT.takenOver);
    expect(old.output()).toMatch(/a restarted agent took the duty over within the lease: stood down, nothing fenced/);
    // The new one inherited the lease the coordinator still counts on, until its agent renews it.
    expect(readLease(join(dir, 'lease.json'))).toMatchObject({ owner: 'run-2', leaseDeadline: deadline });
    // The new agent renews its lease, past the old deadline: nothing fenced.
    while (Date.now() < deadline + 500) {
      next.beat({ leaseDeadline: Date.now() + 1500, roles: { svc: 'primary' } });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(existsSync(fenceMark), 'fenced although a restarted agent took over').toBe(false);
    expect(next.child.exitCode).toBeNull();
  }, 30_000);
  it('agent alive whose NATS is slow (heartbeat rounds of flush + probe timeout + heartbeat, about 3 s at the default settings) is not taken for hung: nothing fenced', async () => {
    primaryCopy();
    // The agent's defaults: lease 3 s, heartbeat 1 s.
    const w = startWatchdog('run-1', { leaseTtlMs: 3000, heartbeatMs: 1000 });
    await w.ready;
    w.beat({ leaseDeadline: Date.now() + 300, roles: { svc: 'primary' } });
    // Its rounds start 3.5 s apart (each one's liveness line at its start), renewing nothing:
    // alive and running rounds, so the agent decides for itself, as when cut from NATS.
    for (let round = 0; round < 2; round++) {
      await sleep(3500);
      w.beat({ roles: { svc: 'primary' } });
    }
    expect(existsSync(fenceMark), `fenced a live agent's primary:\n${w.output()}`).toBe(false);
    expect(w.child.exitCode, w.output()).toBeNull();
  }, 30_000);

  it('an agent restarted a little past its lease: the new run\u2019s watchdog counts its agent starting up as alive and fences nothing once it renews', async () => {
    primaryCopy();
    // The agent's defaults (lease 3 s, heartbeat 1 s); a lease long enough left for the new
    // watchdog to start within it on a loaded machine.
    const settings = { leaseTtlMs: 3000, heartbeatMs: 1000 };
    const old = startWatchdog('run-1', settings);
    await old.ready;
    const deadline = Date.now() + 4000;
    old.beat({ leaseDeadline: deadline, roles: { svc: 'primary' } });
    old.child.stdin!.end(); // the agent dies
    const next = startWatchdog('run-2', settings); // its successor starts the watchdog first, then connects
    await next.ready;
    expect(readLease(join(dir, 'lease.json')), 'the new watchdog inherited the lease').toMatchObject({ owner: 'run-2', leaseDeadline: deadline });
    // Starting up (NATS connect, streams) overshoots the inherited lease a little: no line yet.
    await sleep(Math.max(0, deadline + 300 - Date.now()));
    const renewUntil = Date.now() + 1000;
    while (Date.now() < renewUntil) {
      next.beat({ leaseDeadline: Date.now() + 3000, roles: { svc: 'primary' } });
      await sleep(250);
    }
    expect(existsSync(fenceMark), `fenced while a restarted agent was starting up:\n${next.output()}`).toBe(false);
    expect(next.child.exitCode, next.output()).toBeNull();
  }, 30_000);

  it('invariant 1a: a primary whose failover waits for an operator (failoverMode manual) is left alone, the automatic one is fenced', async () => {
    primaryCopy();
    const w = startWatchdog('run-1');
    await w.ready;
    w.beat({ leaseDeadline: Date.now() + 300, roles: { svc: 'primary', ledger: 'primary' } });
    w.child.stdin!.end();
    expect(await exitedWithin(w, 15_000), w.output()).toBe(WATCHDOG_EXIT.fenced);
    expect(existsSync(fenceMark), 'svc (automatic) fenced').toBe(true);
    expect(existsSync(ledgerFenceMark), `ledger (manual) fenced:\n${w.output()}`).toBe(false);
    expect(w.output()).toMatch(/ledger.*failoverMode manual/);
  }, 30_000);
});

describe('the agent end of its watchdog (WatchdogLink)', () => {
  it('a watchdog that keeps failing is started again after a backoff, not on every heartbeat', async () => {
    const link = new WatchdogLink({ configFile: join(dir, 'no-such-estate.yaml'), siteId: 'A', incarnation: 'run-x', leaseTtlMs: 1500, heartbeatMs: 100, leaseFile: join(dir, 'lease-x.json'), logger: createLogger('watchdog-link-test').child({}, { level: 'silent' }) });
    try {
      link.start();
      await expect(link.ready).rejects.toThrow(/exited before it was on duty/);
      await sleep(50); // the exit handler ran
      link.beat({ roles: {} });
      expect(link.pid, 'a new watchdog started at the very next heartbeat after one failed').toBeUndefined();
    } finally {
      link.detach();
      try {
        if (link.pid) process.kill(link.pid, 'SIGKILL');
      } catch {
        /* exited on its own meanwhile */
      }
    }
  }, 30_000);
});
