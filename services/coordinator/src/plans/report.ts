import type { PlanRunView } from '@drc/contracts';

export interface PlanRunReport {
  runId: string;
  plan: string;
  mode: string;
  result: string;
  state: string;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  actor: string;
  reason: string | null;
  steps: Array<{ id: string; tier: number; kind: string; label: string; status: string; attempt: number; startedAt: string | null; durationMs: number | null; reason: string | null; output: Record<string, unknown> | null }>;
  workloads: Array<{ workloadId: string; status: string; fromSite: string | null; toSite: string | null; rtoMs: number | null; dataLossSeconds: number | null; note: string | null }>;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const num = (v: unknown) => (typeof v === 'number' ? v : null);
const str = (v: unknown) => (typeof v === 'string' ? v : null);

/** Pure. A run's report: per step its start, duration, result and output; per workload its RTO and data loss. */
export function buildPlanRunReport(v: PlanRunView): PlanRunReport {
  return {
    runId: v.runId,
    plan: v.plan,
    mode: v.mode,
    result: v.result ?? 'IN PROGRESS',
    state: v.state,
    startedAt: iso(v.startedAt)!,
    endedAt: iso(v.endedAt),
    durationMs: v.endedAt !== undefined ? v.endedAt - v.startedAt : null,
    actor: `${v.actor.kind}:${v.actor.id}`,
    reason: v.reason ?? null,
    steps: v.steps.map((s) => ({
      id: s.id, tier: s.tier, kind: s.kind, label: s.label, status: s.status, attempt: s.attempt,
      startedAt: iso(s.startedAt), durationMs: s.startedAt !== undefined && s.endedAt !== undefined ? s.endedAt - s.startedAt : null,
      reason: s.reason ?? null, output: s.output ?? null,
    })),
    workloads: v.steps
      .filter((s) => s.kind === 'workload' && s.workloadId)
      .map((s) => ({
        workloadId: s.workloadId!, status: s.status,
        fromSite: str(s.output?.fromSite), toSite: str(s.output?.toSite ?? s.output?.primarySite),
        rtoMs: num(s.output?.rtoMs), dataLossSeconds: num(s.output?.dataLossSeconds),
        note: s.output?.alreadyDone ? 'already done before the plan asked' : (s.reason ?? null),
      })),
  };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const cell = (v: unknown) => (v === null || v === undefined ? '' : String(v)).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const secs = (ms: number | null) => (ms === null ? '' : `${(ms / 1000).toFixed(1)} s`);

/** Pure. The report as Markdown (for tickets and post-incident reviews). */
export function planRunReportMarkdown(v: PlanRunView): string {
  const r = buildPlanRunReport(v);
  const lines = [
    `# Recovery plan ${r.plan}: ${r.mode} run ${r.runId}`,
    '',
    `**Result: ${r.result}** · started ${r.startedAt} by ${r.actor}${r.endedAt ? ` · ended ${r.endedAt} (${secs(r.durationMs)})` : ' · still running'}${r.reason ? ` · ${r.reason}` : ''}`,
    '',
    '## Workloads',
    '',
    '| workload | status | from | to | RTO | data loss |',
    '|---|---|---|---|---|---|',
    ...r.workloads.map((w) => `| ${cell(w.workloadId)} | ${cell(w.status)}${w.note ? ` (${cell(w.note)})` : ''} | ${cell(w.fromSite)} | ${cell(w.toSite)} | ${secs(w.rtoMs)} | ${w.dataLossSeconds === null ? '' : `${w.dataLossSeconds} s`} |`),
    '',
    '## Steps',
    '',
    '| tier | step | status | attempt | started | duration | detail |',
    '|---|---|---|---|---|---|---|',
    ...r.steps.map((s) => `| ${s.tier} | ${cell(s.label)} | ${cell(s.status)} | ${s.attempt} | ${cell(s.startedAt)} | ${secs(s.durationMs)} | ${cell(s.reason ?? (s.output ? JSON.stringify(s.output) : ''))} |`),
    '',
  ];
  return lines.join('\n');
}

/** Pure. The report as a standalone HTML page. */
export function planRunReportHtml(v: PlanRunView): string {
  const r = buildPlanRunReport(v);
  const row = (cells: unknown[]) => `<tr>${cells.map((c) => `<td>${esc(c === null || c === undefined ? '' : String(c))}</td>`).join('')}</tr>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(`drc plan ${r.plan} ${r.runId}`)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.SUCCESS{color:#070}.WARNINGS{color:#a60}.ERRORS,.CANCELLED{color:#b00}</style></head><body>
<h1>Recovery plan ${esc(r.plan)}: ${esc(r.mode)} run ${esc(r.runId)}</h1>
<p class="${esc(r.result)}"><strong>Result: ${esc(r.result)}</strong> — started ${esc(r.startedAt)} by ${esc(r.actor)}${r.endedAt ? `, ended ${esc(r.endedAt)} (${esc(secs(r.durationMs))})` : ', still running'}</p>
<h2>Workloads</h2><table><tr><th>workload</th><th>status</th><th>from</th><th>to</th><th>RTO</th><th>data loss (s)</th></tr>
${r.workloads.map((w) => row([w.workloadId, w.status, w.fromSite, w.toSite, secs(w.rtoMs), w.dataLossSeconds])).join('\n')}</table>
<h2>Steps</h2><table><tr><th>tier</th><th>step</th><th>status</th><th>attempt</th><th>started</th><th>duration</th><th>detail</th></tr>
${r.steps.map((s) => row([s.tier, s.label, s.status, s.attempt, s.startedAt, secs(s.durationMs), s.reason ?? (s.output ? JSON.stringify(s.output) : '')])).join('\n')}</table>
</body></html>
`;
}

/** Pure. The report in the format asked for. */
export function planRunReport(v: PlanRunView, format: 'json' | 'md' | 'html'): PlanRunReport | string {
  return format === 'json' ? buildPlanRunReport(v) : format === 'md' ? planRunReportMarkdown(v) : planRunReportHtml(v);
}
