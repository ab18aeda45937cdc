import { execFile } from 'node:child_process';
import type { CommandAction } from '@drc/contracts';
import { z } from 'zod';
import { DriverError, type ActionContext, type ActionOutcome, type DriverFactory, type DriverSetup, type ProbeResult, type WorkloadDriver } from '../driver';

/** Settings of the libvirt driver: `driver.settings` merged with `driver.sites[site]`. */
export const LibvirtSettingsSchema = z.strictObject({
  /** libvirt connection URI: `qemu:///system`, `qemu+ssh://host/system`, `test+unix:///default?socket=…`. */
  uri: z.string().regex(/^[a-z][a-z0-9+.-]*:\/\//i, { message: 'expected a libvirt URI such as qemu:///system' }),
  /** The VM: its libvirt name (or UUID). */
  domain: z.string().min(1).max(256).regex(/^[^\s/]+$/, { message: 'expected a domain name without spaces or slashes' }),
  virshPath: z.string().min(1).default('virsh'),
  /** Longest one virsh call may take (it is killed after that). */
  timeoutMs: z.number().int().positive().max(3_600_000).default(60_000),
});
export type LibvirtSettings = z.infer<typeof LibvirtSettingsSchema>;

/**
 * What each action does to the VM. A copy of a VM at a replica site is a shut-off domain whose
 * disks the storage layer replicates; the copy that serves is the running one.
 *   promote, start, unfence → running (start a shut-off VM, resume a paused one)
 *   fence, stop, demote     → shut off at once (`virsh destroy`: a fence must not wait on the guest)
 *   quiesce                 → paused (`virsh suspend`: no more writes, resumable by unfence)
 *   snapshot                → `virsh snapshot-create-as` (name from params.name, else from the command id)
 * Not supported (answered `unsupported`): reprotect (resyncing disks is the storage layer's job),
 * redirect, drillStart, drillCleanup.
 */
const CAPABILITIES: CommandAction[] = ['promote', 'start', 'unfence', 'fence', 'stop', 'demote', 'quiesce', 'snapshot'];

/** The domain states `virsh domstate` prints (C locale). */
export type DomainState = 'running' | 'idle' | 'paused' | 'in shutdown' | 'shut off' | 'crashed' | 'pmsuspended' | 'blocked' | 'no state';

const SnapshotNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, { message: 'expected letters, digits, . _ -' });

/** Pure. `running (booted)` → { state: 'running', reason: 'booted' }. */
export function parseDomState(out: string): { state: string; reason?: string } {
  const m = /^(.+?)(?:\s+\(([^)]*)\))?$/.exec(out.trim());
  return m ? { state: m[1]!, ...(m[2] ? { reason: m[2] } : {}) } : { state: out.trim() };
}

/** Pure. virsh's stderr as one reason line: `error: failed to get domain 'x'` → `failed to get domain 'x'`. */
export function virshReason(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim().replace(/^error:\s*/, '')).filter(Boolean);
  return [...new Set(lines)].join('; ').slice(0, 1000);
}

interface VirshResult {
  ok: boolean;
  stdout: string;
  reason: string;
}

/**
 * Drives one VM through `virsh` (libvirt's own client: every hypervisor libvirt speaks, local or
 * over ssh/tls, and its test driver). Each action is idempotent by looking before acting and by
 * looking again when virsh refuses (a VM already in the wanted state is success).
 *
 * Probe roles (what a copy in each domain state is, given this site's configured role):
 *   running, idle, blocked        → primary, healthy (at a replica site too: facts, with a detail)
 *   shut off at a replica site    → replica, healthy (the standby copy)
 *   shut off at the primary site  → stopped, unhealthy
 *   paused, pmsuspended           → fenced, unhealthy (not serving; unfence resumes it)
 *   crashed, in shutdown, other   → stopped, unhealthy
 *   virsh fails (no domain, no connection, timeout) → unknown, unhealthy, with virsh's error
 */
export class LibvirtDriver implements WorkloadDriver {
  readonly type = 'libvirt' as const;
  readonly capabilities: ReadonlySet<CommandAction> = new Set(CAPABILITIES);

  constructor(
    private readonly s: LibvirtSettings,
    private readonly setup: Pick<DriverSetup, 'workloadId' | 'siteId' | 'configuredRole'>,
  ) {}

  /** One virsh call against this driver's connection; never throws (a failure is `ok: false` with the reason). */
  private virsh(args: string[], opts: { signal?: AbortSignal; deadline?: number } = {}): Promise<VirshResult> {
    const left = opts.deadline === undefined ? this.s.timeoutMs : Math.min(this.s.timeoutMs, opts.deadline - Date.now());
    if (left <= 0) return Promise.resolve({ ok: false, stdout: '', reason: 'deadline passed' });
    return new Promise((resolve) => {
      execFile(
        this.s.virshPath,
        ['-q', '-c', this.s.uri, ...args],
        { timeout: left, killSignal: 'SIGKILL', env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1_000_000, ...(opts.signal ? { signal: opts.signal } : {}) },
        (err, stdout, stderr) => {
          if (!err) return resolve({ ok: true, stdout: stdout.trim(), reason: '' });
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
          const reason =
            e.name === 'AbortError' ? 'aborted' : e.killed ? `virsh timed out after ${left} ms (killed)` : e.code === 'ENOENT' ? `${this.s.virshPath} not found (install libvirt-clients)` : virshReason(stderr) || e.message;
          resolve({ ok: false, stdout: stdout.trim(), reason });
        },
      );
    });
  }

  private async state(opts: { signal?: AbortSignal; deadline?: number } = {}): Promise<{ state: string; reason?: string }> {
    const r = await this.virsh(['domstate', this.s.domain, '--reason'], opts);
    if (!r.ok) throw new DriverError(`domain ${this.s.domain}: ${r.reason}`, true);
    return parseDomState(r.stdout);
  }

  async probe(): Promise<ProbeResult> {
    let st: { state: string; reason?: string };
    try {
      st = await this.state();
    } catch (e) {
      return { role: 'unknown', healthy: false, detail: (e as Error).message };
    }
    const said = `${st.state}${st.reason ? ` (${st.reason})` : ''}`;
    switch (st.state) {
      case 'running':
      case 'idle':
      case 'blocked':
        return { role: 'primary', healthy: true, ...(this.setup.configuredRole === 'replica' ? { detail: `running at replica site ${this.setup.siteId}` } : {}) };
      case 'shut off':
        return this.setup.configuredRole === 'replica' ? { role: 'replica', healthy: true, detail: `standby copy: ${said}` } : { role: 'stopped', healthy: false, detail: said };
      case 'paused':
      case 'pmsuspended':
        return { role: 'fenced', healthy: false, detail: `${said}: not serving` };
      default:
        return { role: 'stopped', healthy: false, detail: said };
    }
  }

  async execute(action: CommandAction, params: Record<string, unknown>, ctx: ActionContext): Promise<ActionOutcome> {
    if (!this.capabilities.has(action)) throw new DriverError(`unsupported: the libvirt driver cannot ${action} a VM`);
    if (ctx.signal.aborted || Date.now() > ctx.deadline) throw new DriverError(`${action}: deadline passed before it started`);
    const opts = { signal: ctx.signal, deadline: ctx.deadline };
    switch (action) {
      case 'promote':
      case 'start':
      case 'unfence':
        return this.toRunning(action, opts);
      case 'fence':
      case 'stop':
      case 'demote':
        return this.transition(action, ['shut off'], (st) => (st === 'shut off' ? undefined : ['destroy', this.s.domain]), opts);
      case 'quiesce':
        // A shut-off VM writes nothing either: already quiesced.
        return this.transition(action, ['paused', 'shut off'], (st) => (st === 'paused' || st === 'shut off' ? undefined : ['suspend', this.s.domain]), opts);
      case 'snapshot':
        return this.snapshot(params, ctx);
      default:
        throw new DriverError(`unsupported: the libvirt driver cannot ${action} a VM`);
    }
  }

  private toRunning(action: CommandAction, opts: { signal: AbortSignal; deadline: number }): Promise<ActionOutcome> {
    return this.transition(action, ['running', 'idle', 'blocked'], (st) => {
      if (st === 'running' || st === 'idle' || st === 'blocked') return undefined;
      if (st === 'paused') return ['resume', this.s.domain];
      if (st === 'pmsuspended') return ['dompmwakeup', this.s.domain];
      return ['start', this.s.domain];
    }, opts);
  }

  /**
   * Looks at the domain, runs the command that gets it to one of `wanted` (none if it is there
   * already), and looks again: success is the domain in a wanted state, whoever put it there.
   */
  private async transition(action: CommandAction, wanted: string[], command: (state: string) => string[] | undefined, opts: { signal: AbortSignal; deadline: number }): Promise<ActionOutcome> {
    const fail = (why: string) => new DriverError(`${action} of domain ${this.s.domain}: ${why}`, false);
    let before: string;
    try {
      before = (await this.state(opts)).state;
    } catch (e) {
      throw fail((e as DriverError).reason.replace(`domain ${this.s.domain}: `, ''));
    }
    const args = command(before);
    if (!args) return { detail: { domain: this.s.domain, state: before, changed: false } };
    const r = await this.virsh(args, opts);
    const after = await this.state({ signal: opts.signal }).catch(() => undefined);
    if (after && wanted.includes(after.state)) return { detail: { domain: this.s.domain, state: after.state, changed: true, ran: args[0] } };
    throw fail(r.ok ? `virsh ${args[0]} left it ${after?.state ?? 'in an unknown state'}` : r.reason);
  }

  private async snapshot(params: Record<string, unknown>, ctx: ActionContext): Promise<ActionOutcome> {
    const given = params['name'] ?? params['snapshot'];
    const parsed = SnapshotNameSchema.safeParse(given ?? `drc-${ctx.commandId}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128));
    if (!parsed.success) throw new DriverError(`snapshot: params.name: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const name = parsed.data;
    const opts = { signal: ctx.signal, deadline: ctx.deadline };
    // Idempotent: the same command (same name) twice is one snapshot.
    const exists = await this.virsh(['snapshot-info', this.s.domain, name], opts);
    if (exists.ok) return { detail: { domain: this.s.domain, snapshot: name, created: false } };
    const description = typeof params['description'] === 'string' ? params['description'].slice(0, 500) : `drc ${this.setup.workloadId} at ${this.setup.siteId}, command ${ctx.commandId} (epoch ${ctx.epoch})`;
    const r = await this.virsh(['snapshot-create-as', this.s.domain, name, '--description', description], opts);
    if (!r.ok) {
      if ((await this.virsh(['snapshot-info', this.s.domain, name], { signal: ctx.signal })).ok) return { detail: { domain: this.s.domain, snapshot: name, created: false } };
      throw new DriverError(`snapshot of domain ${this.s.domain}: ${r.reason}`);
    }
    return { detail: { domain: this.s.domain, snapshot: name, created: true } };
  }

  async close(): Promise<void> {}
}

/** The driver factory for `driver: libvirt`. Throws DriverError (naming the field) on invalid settings; runs nothing. */
export const createLibvirtDriver: DriverFactory = async (setup) => {
  const parsed = LibvirtSettingsSchema.safeParse(setup.settings);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new DriverError(`workload ${setup.workloadId}: driver.settings.${i?.path.join('.') || '(root)'}: ${i?.message ?? 'invalid'}`);
  }
  return new LibvirtDriver(parsed.data, setup);
};
