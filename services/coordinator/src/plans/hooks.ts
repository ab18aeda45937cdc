import { spawn } from 'node:child_process';
import type { HookConfig } from '@drc/contracts';

export interface HookOutcome {
  ok: boolean;
  reason?: string;
  output: Record<string, unknown>;
}

const tail = (s: string, n = 2000) => (s.length > n ? `…${s.slice(-n)}` : s);

/**
 * Not pure. Runs one plan hook: a command on the coordinator host (argv, no shell, its own
 * process group so a timeout kills everything it started) or a webhook (POST, JSON body).
 * The context reaches a command as environment (DRC_PLAN, DRC_RUN, DRC_STEP, DRC_MODE,
 * DRC_WORKLOAD, DRC_ATTEMPT) and a webhook as the body. A JSON object printed on stdout (or
 * returned by the webhook) becomes the step's output. Hooks run at least once: after a
 * coordinator crash mid-hook the hook runs again, so it must be idempotent.
 */
export async function runHook(hook: HookConfig, context: Record<string, string>, signal: AbortSignal): Promise<HookOutcome> {
  return hook.command ? runCommand(hook.command, hook.timeoutMs, context, signal) : runWebhook(hook.url!, hook.timeoutMs, context, signal);
}

function runCommand(argv: string[], timeoutMs: number, context: Record<string, string>, signal: AbortSignal): Promise<HookOutcome> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(context)) env[`DRC_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`] = v;
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const child = spawn(argv[0]!, argv.slice(1), { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const onAbort = () => kill();
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 1_000_000) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 1_000_000) stderr += d.toString();
    });
    const done = (o: HookOutcome) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(o);
    };
    child.on('error', (e) => done({ ok: false, reason: `cannot run ${argv[0]}: ${e.message}`, output: {} }));
    child.on('close', (code, sig) => {
      const parsed = parseJsonObject(stdout);
      const output: Record<string, unknown> = parsed ?? (stdout.trim() ? { stdout: tail(stdout.trim()) } : {});
      if (timedOut) return done({ ok: false, reason: `timed out after ${timeoutMs} ms (killed)`, output });
      if (signal.aborted) return done({ ok: false, reason: 'aborted', output });
      if (code === 0) return done({ ok: true, output });
      done({ ok: false, reason: `${argv[0]} exited with ${code ?? sig}${stderr.trim() ? `: ${tail(stderr.trim(), 500)}` : ''}`, output });
    });
  });
}

async function runWebhook(url: string, timeoutMs: number, context: Record<string, string>, signal: AbortSignal): Promise<HookOutcome> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'drc.plan.hook', ...context }),
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    const text = await res.text();
    const output = parseJsonObject(text) ?? (text.trim() ? { body: tail(text.trim()) } : {});
    return res.ok ? { ok: true, output } : { ok: false, reason: `webhook answered ${res.status}`, output };
  } catch (e) {
    return { ok: false, reason: `webhook ${url}: ${(e as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (e as Error).message}`, output: {} };
  }
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  const t = text.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
