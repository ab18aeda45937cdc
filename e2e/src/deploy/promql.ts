import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../harness';

/** A metric selector found in a PromQL expression: the metric and the label names it matches on. */
export interface Selector {
  metric: string;
  labels: string[];
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan', 'atan2']);

/**
 * Pure. The metric selectors of a PromQL expression, Grafana variables included. A small
 * tokenizer, not a PromQL parser: enough for dashboards (functions, aggregations with by/on
 * clauses, label matchers, range selectors, arithmetic), and it throws on what it cannot read
 * rather than missing a metric.
 */
export function selectorsOf(expr: string): Selector[] {
  const e = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals (label values, regexes)
    .replace(/\[[^\]]*\]/g, '') // range and subquery durations, [$__rate_interval] included
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\boffset\s+-?[0-9a-zA-Z$_]+/g, ' '); // offset durations
  const out: Selector[] = [];
  const token = /(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?|(\{[^}]*\})/g;
  for (const m of e.matchAll(token)) {
    if (m[4]) throw new Error(`selector without a metric name in "${expr}": ${m[4]}`);
    const [, name, matchers, call] = m;
    if (call || KEYWORDS.has(name!.toLowerCase())) continue;
    const labels = [...(matchers ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!);
    out.push({ metric: name!, labels });
  }
  return out;
}

/** Pure. Every PromQL expression of a Grafana dashboard: panel targets (rows' panels too) and query variables. */
export function dashboardQueries(dashboard: unknown): string[] {
  const d = dashboard as { panels?: Panel[]; templating?: { list?: Array<{ type?: string; query?: unknown; definition?: string }> } };
  const out: string[] = [];
  const visit = (panels: Panel[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (typeof t.expr === 'string') out.push(t.expr);
      visit(p.panels);
    }
  };
  visit(d.panels);
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    // label_values(selector, label): the selector is PromQL, the label is not a metric.
    const lv = q?.match(/^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$/);
    if (lv) out.push(lv[1]!);
    else if (q) out.push(q);
  }
  return out;
}
interface Panel {
  targets?: Array<{ expr?: unknown }>;
  panels?: Panel[];
}

/** A metric the coordinator exports, as its source declares it. */
export interface ExportedMetric {
  name: string;
  type: 'gauge' | 'counter' | 'histogram' | 'summary';
  labels: string[];
}

/**
 * Not pure (reads the coordinator's metrics source). METRIC_NAMES, and for each the type and
 * label names of its prom-client declaration. Read as text: the e2e workspace imports services
 * only through their entry points, and METRIC_NAMES is not exported there.
 */
export function coordinatorMetrics(): { names: string[]; declared: Map<string, ExportedMetric> } {
  const src = readFileSync(join(repoRoot, 'services/coordinator/src/metrics/index.ts'), 'utf8');
  const list = src.match(/export const METRIC_NAMES = \[([\s\S]*?)\] as const;/);
  if (!list) throw new Error('services/coordinator/src/metrics/index.ts: METRIC_NAMES not found');
  const names = [...list[1]!.matchAll(/'([a-z_:][a-z0-9_:]*)'/g)].map((m) => m[1]!);
  const declared = new Map<string, ExportedMetric>();
  for (const m of src.matchAll(/new (Gauge|Counter|Histogram|Summary)\(\{\s*name: '([^']+)'([\s\S]*?)registers:/g)) {
    const labels = m[3]!.match(/labelNames: \[([^\]]*)\]/)?.[1]?.match(/'[^']+'/g)?.map((s) => s.slice(1, -1)) ?? [];
    declared.set(m[2]!, { name: m[2]!, type: m[1]!.toLowerCase() as ExportedMetric['type'], labels });
  }
  return { names, declared };
}

/** Pure. The exported metric a series name belongs to (a histogram's _bucket/_sum/_count series included), or undefined. */
export function exportedMetricOf(series: string, declared: Map<string, ExportedMetric>): { metric: ExportedMetric; suffix: string } | undefined {
  const direct = declared.get(series);
  if (direct && direct.type !== 'histogram') return { metric: direct, suffix: '' };
  const m = series.match(/^(.*)_(bucket|sum|count)$/);
  const base = m && declared.get(m[1]!);
  if (base && (base.type === 'histogram' || base.type === 'summary') && !(base.type === 'summary' && m[2] === 'bucket')) return { metric: base, suffix: m[2]! };
  return undefined;
}
