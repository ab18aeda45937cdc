import { randomUUID } from 'node:crypto';
import { PlanModeSchema, PlanRunViewSchema, PlanStepSchema, type PlanRunView } from '@drc/contracts';
import { Argument, Option, type Command } from 'commander';
import { z } from 'zod';
import { ApiResponseError, ApiUnavailableError } from '../api-client';
import { EXIT } from '../exit-codes';
import { colour, table, type Colour } from '../output';
import { printJson, withApiOptions, type ApiOptions } from './api-options';

const PlanListSchema = z.object({ plans: z.array(z.object({ name: z.string(), description: z.string().nullable(), recoverySite: z.string().nullable(), tiers: z.array(z.string()), trigger: z.unknown() })) });
const PlanShowSchema = z.object({ plan: z.looseObject({ name: z.string() }), mode: PlanModeSchema, steps: z.array(PlanStepSchema) });

/** A small client for the plan routes (same errors as the main API client). */
function planClient(opts: ApiOptions) {
  const token = opts.token ?? process.env.DRC_TOKEN;
  async function call(path: string, init: RequestInit = {}): Promise<{ res: Response; body: unknown; text: string }> {
    let res: Response;
    try {
      res = await fetch(new URL(path, opts.api), { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string> | undefined) } });
    } catch (e) {
      throw new ApiUnavailableError(opts.api, `cannot reach the coordinator API at ${opts.api}: ${(e as Error).message} (start one, or set --api / DRC_API_URL)`, { cause: e });
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const msg = (body as { error?: { message?: string } } | undefined)?.error?.message ?? res.statusText;
      throw new ApiResponseError(res.status, body, `${res.status} ${msg}${res.status === 401 ? ' (set DRC_TOKEN or --token)' : ''}`);
    }
    return { res, body, text };
  }
  const enc = encodeURIComponent;
  return {
    list: async () => PlanListSchema.parse((await call('/api/v1/plans')).body).plans,
    show: async (name: string, mode: string) => PlanShowSchema.parse((await call(`/api/v1/plans/${enc(name)}?mode=${enc(mode)}`)).body),
    run: async (name: string, mode: string, reason: string | undefined, key: string) =>
      PlanRunViewSchema.parse((await call(`/api/v1/plans/${enc(name)}/runs`, { method: 'POST', headers: { 'idempotency-key': key }, body: JSON.stringify({ mode, ...(reason ? { reason } : {}) }) })).body),
    runs: async () => z.object({ runs: z.array(PlanRunViewSchema) }).parse((await call('/api/v1/plan-runs')).body).runs,
    status: async (runId: string) => PlanRunViewSchema.parse((await call(`/api/v1/plan-runs/${enc(runId)}`)).body),
    report: async (runId: string, format: string) => (await call(`/api/v1/plan-runs/${enc(runId)}/report?format=${enc(format)}`)).text,
    act: async (runId: string, kind: string, step?: string) =>
      PlanRunViewSchema.parse((await call(`/api/v1/plan-runs/${enc(runId)}/${kind}`, { method: 'POST', body: JSON.stringify(step ? { step } : {}) })).body),
  };
}

const STATUS_COLOUR: Record<string, Colour> = { done: 'green', running: 'cyan', awaitingApproval: 'yellow', pending: 'grey', failed: 'red', skipped: 'yellow', cancelled: 'grey' };
const RESULT_COLOUR: Record<string, Colour> = { SUCCESS: 'green', WARNINGS: 'yellow', ERRORS: 'red', CANCELLED: 'red' };
const dur = (a?: number, b?: number) => (a !== undefined && b !== undefined ? `${((b - a) / 1000).toFixed(1)} s` : '');

/** Pure. A run as a table of its steps. */
export function renderRun(v: PlanRunView): string {
  const head = `${colour('bold', v.plan)} ${v.mode} run ${v.runId}: ${v.result ? colour(RESULT_COLOUR[v.result] ?? 'bold', v.result) : colour('cyan', v.state)}${v.reason ? ` (${v.reason})` : ''}`;
  const rows = v.steps.map((s) => [String(s.tier), s.id, s.label, colour(STATUS_COLOUR[s.status] ?? 'bold', s.status), String(s.attempt), dur(s.startedAt, s.endedAt), s.reason ?? '']);
  return `${head}\n${table(['TIER', 'STEP', 'WHAT', 'STATUS', 'TRY', 'TOOK', 'DETAIL'], rows)}`;
}

/** `drc plan list|show|run|runs|status|report|approve|retry|pause|resume|cancel`. */
export function registerPlanCommands(program: Command): void {
  const plan = program.command('plan').description('recovery plans (runbooks): run them in tier order, drill them, approve their steps, report');
  withApiOptions(plan.command('list').description('the configured recovery plans')).action(async (opts: ApiOptions) => {
    const plans = await planClient(opts).list();
    if (opts.json) return printJson({ plans });
    process.stdout.write(`${table(['PLAN', 'TIERS', 'RECOVERY SITE', 'DESCRIPTION'], plans.map((p) => [p.name, p.tiers.join(' → '), p.recoverySite ?? '', p.description ?? '']))}\n`);
  });
  withApiOptions(plan.command('show').argument('<plan>').description('the steps a run would take, in order'))
    .addOption(new Option('--mode <mode>', 'run mode').choices(PlanModeSchema.options).default('failover'))
    .action(async (name: string, opts: ApiOptions & { mode: string }) => {
      const r = await planClient(opts).show(name, opts.mode);
      if (opts.json) return printJson(r);
      process.stdout.write(`${table(['TIER', 'STEP', 'WHAT', 'NEEDS', 'AFTER TIER'], r.steps.map((s) => [String(s.tier), s.id, s.label, s.after.join(', '), s.barrier.length ? 'yes' : '']))}\n`);
    });
  withApiOptions(plan.command('run').argument('<plan>').description('start a run of a plan (prints its run id); --wait follows it to the end'))
    .addOption(new Option('--mode <mode>', 'failover (unplanned), migrate (planned, zero loss), test (drill), cleanup, reprotect, failback').choices(PlanModeSchema.options).makeOptionMandatory())
    .option('--reason <text>', 'why (recorded with the run)')
    .option('--wait', 'follow the run until it finishes or waits for an approval', false)
    .option('--idempotency-key <key>', 'repeat-safe: the same key starts the same run once')
    .action(async (name: string, opts: ApiOptions & { mode: string; reason?: string; wait: boolean; idempotencyKey?: string }) => {
      const api = planClient(opts);
      let v = await api.run(name, opts.mode, opts.reason, opts.idempotencyKey ?? randomUUID());
      if (!opts.json) process.stderr.write(`plan ${name} (${opts.mode}): run ${colour('bold', v.runId)} started\n`);
      const seen = new Map<string, string>();
      while (opts.wait && v.state !== 'finished') {
        for (const s of v.steps) {
          if (seen.get(s.id) === s.status || s.status === 'pending') continue;
          seen.set(s.id, s.status);
          if (!opts.json) process.stderr.write(`  ${s.id}: ${colour(STATUS_COLOUR[s.status] ?? 'bold', s.status)}${s.reason ? ` (${s.reason})` : ''}\n`);
        }
        if (v.steps.some((s) => s.status === 'awaitingApproval') && !v.steps.some((s) => s.status === 'running')) {
          if (!opts.json) process.stderr.write(`waiting for approval: drc plan approve ${v.runId} STEP\n`);
          break;
        }
        await new Promise((r) => setTimeout(r, 1000));
        v = await api.status(v.runId);
      }
      if (opts.json) printJson(v);
      else process.stdout.write(`${renderRun(v)}\n`);
      if (v.result === 'ERRORS' || v.result === 'CANCELLED') process.exitCode = EXIT.failed;
    });
  withApiOptions(plan.command('runs').description('every plan run, newest first')).action(async (opts: ApiOptions) => {
    const runs = await planClient(opts).runs();
    if (opts.json) return printJson({ runs });
    process.stdout.write(`${table(['RUN', 'PLAN', 'MODE', 'STATE', 'RESULT', 'STARTED'], runs.map((r) => [r.runId, r.plan, r.mode, r.state, r.result ?? '', new Date(r.startedAt).toISOString()]))}\n`);
  });
  withApiOptions(plan.command('status').argument('<run>').description('one run and its steps')).action(async (runId: string, opts: ApiOptions) => {
    const v = await planClient(opts).status(runId);
    if (opts.json) printJson(v);
    else process.stdout.write(`${renderRun(v)}\n`);
  });
  withApiOptions(plan.command('report').argument('<run>').description('the run report: per step start, duration, result; per workload RTO and data loss'))
    .addOption(new Option('--format <format>', 'md, html or json').choices(['md', 'html', 'json']).default('md'))
    .action(async (runId: string, opts: ApiOptions & { format: string }) => {
      process.stdout.write(`${(await planClient(opts).report(runId, opts.json ? 'json' : opts.format)).trimEnd()}\n`);
    });
  for (const [kind, what] of [['approve', 'approve a step that waits for approval'], ['retry', 'retry a failed (or skipped) step']] as const) {
    withApiOptions(plan.command(kind).addArgument(new Argument('<run>')).addArgument(new Argument('<step>')).description(what)).action(async (runId: string, step: string, opts: ApiOptions) => {
      const v = await planClient(opts).act(runId, kind, step);
      if (opts.json) printJson(v);
      else process.stdout.write(`${renderRun(v)}\n`);
    });
  }
  for (const [kind, what] of [['pause', 'start no new step (running steps finish)'], ['resume', 'go on after a pause'], ['cancel', 'start no new step and end the run CANCELLED']] as const) {
    withApiOptions(plan.command(kind).argument('<run>').description(what)).action(async (runId: string, opts: ApiOptions) => {
      const v = await planClient(opts).act(runId, kind);
      if (opts.json) printJson(v);
      else process.stdout.write(`${renderRun(v)}\n`);
    });
  }
}
