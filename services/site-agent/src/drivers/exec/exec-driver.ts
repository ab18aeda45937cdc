import { spawn } from 'node:child_process';
import { CommandActionSchema, ReplicationStatusSchema, WorkloadRoleSchema, type CommandAction } from '@drc/contracts';
import { z } from 'zod';
import { DriverError, type ActionContext, type ActionOutcome, type DriverFactory, type DriverSetup, type ProbeResult, type WorkloadDriver } from '../driver';

/** A command: argv (run without a shell), or one string run by `/bin/sh -c` (say so in the config on purpose). */
const CommandSchema = z.union([z.array(z.string().min(1)).min(1), z.string().min(1)]);
const StepSchema = z.strictObject({
  command: CommandSchema,
  timeoutMs: z.number().int().positive().max(3_600_000).default(60_000),
  env: z.record(z.string(), z.string()).default({}),
});

/**
 * Settings of the exec driver: one command per action (storage LUN remap, VLAN or DNS change,
 * load-balancer pool update, a VM tool…) and an optional health probe printing JSON.
 */
export const ExecSettingsSchema = z.strictObject({
  actions: z.partialRecord(CommandActionSchema, StepSchema).default({}),
  probe: StepSchema.optional(),
  /** Role reported when there is no probe (the copy's role in the configuration). */
  role: WorkloadRoleSchema.optional(),
});
export type ExecSettings = z.infer<typeof ExecSettingsSchema>;

const ProbeOutputSchema = z.strictObject({
  role: WorkloadRoleSchema,
  healthy: z.boolean(),
  detail: z.string().max(2000).optional(),
  replication: ReplicationStatusSchema.optional(),
});

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const tail = (s: string, n = 500) => (s.length > n ? `…${s.slice(-n)}` : s).trim();

/**
 * Runs commands from the configuration for each action. Each gets the workload, site, epoch,
 * action, command id and parameters as environment (DRC_WORKLOAD, DRC_SITE, DRC_EPOCH,
 * DRC_ACTION, DRC_COMMAND_ID, DRC_PARAMS as JSON); a JSON object on stdout becomes the result's
 * detail; a non-zero exit, a timeout (its whole process group is killed) or a JSON error fails
 * the step with the exit code and the end of stderr. Commands must be idempotent: the agent
 * runs each command id once, but a step may be retried under a new id.
 */
export class ExecDriver implements WorkloadDriver {
  readonly type = 'exec' as const;
  readonly capabilities: ReadonlySet<CommandAction>;

  constructor(
    private readonly s: ExecSettings,
    private readonly setup: Pick<DriverSetup, 'workloadId' | 'siteId' | 'configuredRole'>,
  ) {
    this.capabilities = new Set(Object.keys(s.actions) as CommandAction[]);
  }

  private run(step: z.infer<typeof StepSchema>, env: Record<string, string>, signal?: AbortSignal): Promise<Ran> {
    const [cmd, args] = typeof step.command === 'string' ? ['/bin/sh', ['-c', step.command]] : [step.command[0]!, step.command.slice(1)];
    return new Promise((resolve) => {
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const child = spawn(cmd, args, { env: { ...process.env, ...step.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      const kill = () => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, step.timeoutMs);
      signal?.addEventListener('abort', kill, { once: true });
      child.stdout.on('data', (d: Buffer) => (stdout.length < 1_000_000 ? (stdout += d.toString()) : undefined));
      child.stderr.on('data', (d: Buffer) => (stderr.length < 1_000_000 ? (stderr += d.toString()) : undefined));
      child.on('error', (e) => {
        clearTimeout(timer);
        resolve({ code: null, signal: null, stdout, stderr: e.message, timedOut });
      });
      child.on('close', (code, sig) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', kill);
        resolve({ code, signal: sig, stdout, stderr, timedOut });
      });
    });
  }

  private env(action: string, extra: Record<string, string> = {}): Record<string, string> {
    return { DRC_WORKLOAD: this.setup.workloadId, DRC_SITE: this.setup.siteId, DRC_ACTION: action, ...extra };
  }

  async probe(): Promise<ProbeResult> {
    if (!this.s.probe) return { role: this.s.role ?? this.setup.configuredRole, healthy: true };
    const r = await this.run(this.s.probe, this.env('probe'));
    if (r.timedOut) return { role: 'unknown', healthy: false, detail: `probe timed out after ${this.s.probe.timeoutMs} ms` };
    if (r.code !== 0) return { role: 'unknown', healthy: false, detail: `probe exited with ${r.code ?? r.signal}: ${tail(r.stderr) || tail(r.stdout)}` };
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.stdout);
    } catch {
      return { role: 'unknown', healthy: false, detail: `probe printed no JSON: ${tail(r.stdout, 200)}` };
    }
    const p = ProbeOutputSchema.safeParse(parsed);
    if (!p.success) return { role: 'unknown', healthy: false, detail: `probe output ${p.error.issues[0]?.path.join('.') || '(root)'}: ${p.error.issues[0]?.message}` };
    return { role: p.data.role, healthy: p.data.healthy, ...(p.data.detail ? { detail: p.data.detail } : {}), ...(p.data.replication ? { replication: p.data.replication } : {}) };
  }

  async execute(action: CommandAction, params: Record<string, unknown>, ctx: ActionContext): Promise<ActionOutcome> {
    const step = this.s.actions[action];
    if (!step) throw new DriverError(`unsupported: the exec driver has no command for ${action}`);
    if (ctx.signal.aborted || Date.now() > ctx.deadline) throw new DriverError(`${action}: deadline passed before it started`);
    const r = await this.run(step, this.env(action, { DRC_EPOCH: String(ctx.epoch), DRC_COMMAND_ID: ctx.commandId, DRC_PARAMS: JSON.stringify(params) }), ctx.signal);
    if (r.timedOut) throw new DriverError(`${action}: timed out after ${step.timeoutMs} ms (killed)`);
    if (r.code !== 0) throw new DriverError(`${action}: exited with ${r.code ?? r.signal}${r.stderr.trim() ? `: ${tail(r.stderr)}` : ''}`);
    const out = r.stdout.trim();
    if (!out) return { detail: {} };
    let parsed: unknown;
    try {
      parsed = JSON.parse(out);
    } catch {
      throw new DriverError(`${action}: printed something that is not JSON on stdout: ${tail(out, 200)}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DriverError(`${action}: expected a JSON object on stdout`);
    return { detail: parsed as Record<string, unknown> };
  }

  async close(): Promise<void> {}
}

/** The driver factory for `driver: exec`. Throws (naming the field) on invalid settings. */
export const createExecDriver: DriverFactory = async (setup) => {
  const parsed = ExecSettingsSchema.safeParse(setup.settings);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new DriverError(`workload ${setup.workloadId}: driver.settings.${i?.path.join('.') || '(root)'}: ${i?.message ?? 'invalid'}`);
  }
  return new ExecDriver(parsed.data, setup);
};
