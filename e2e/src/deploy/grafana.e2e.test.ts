import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../harness';
import { coordinatorMetrics, dashboardQueries, exportedMetricOf, selectorsOf } from './promql';

const file = join(repoRoot, 'deploy/grafana/drc-dashboard.json');

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; refId?: string }>;
  panels?: Panel[];
}

describe('deploy/grafana - the dashboard queries only what the coordinator exports', () => {
  const text = readFileSync(file, 'utf8');

  it('is a well-formed Grafana dashboard: unique panel ids, panels on the 24-column grid, every query on the datasource variable', () => {
    const d = JSON.parse(text) as { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: Array<{ name: string; type: string }> } };
    expect(d.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(d.title).toMatch(/drc/);
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(d.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) {
      expect(p.gridPos.x + p.gridPos.w, `panel "${p.title}" overflows the grid`).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.datasource?.uid, `panel "${p.title}" datasource`).toBe('${datasource}');
      expect(p.targets?.length, `panel "${p.title}" has no query`).toBeGreaterThan(0);
      const refIds = (p.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, `panel "${p.title}" refIds`).toBe(refIds.length);
    }
  });

  it('every metric a query selects is in METRIC_NAMES, with labels the coordinator sets', () => {
    const { names, declared } = coordinatorMetrics();
    // The parse of the source must see every exported name, or the check below proves nothing.
    expect(names.length).toBeGreaterThan(5);
    expect([...declared.keys()].sort()).toEqual([...names].sort());
    const queries = dashboardQueries(JSON.parse(text));
    expect(queries.length).toBeGreaterThan(10);
    const used = new Set<string>();
    for (const q of queries) {
      const selectors = selectorsOf(q);
      expect(selectors.length, `no metric in "${q}"`).toBeGreaterThan(0);
      for (const s of selectors) {
        const found = exportedMetricOf(s.metric, declared);
        expect(found, `"${s.metric}" (in ${q}) is not a series the coordinator exports (METRIC_NAMES: ${names.join(', ')})`).toBeDefined();
        const allowed = new Set([...found!.metric.labels, 'job', 'instance', ...(found!.suffix === 'bucket' ? ['le'] : [])]);
        for (const l of s.labels) expect(allowed.has(l), `label "${l}" on ${s.metric} (in ${q})`).toBe(true);
        used.add(found!.metric.name);
      }
    }
    // Report what the dashboard leaves out (not an error: a new metric may wait for its panel).
    const unused = names.filter((n) => !used.has(n));
    if (unused.length) console.log(`[deploy/grafana] exported but not on the dashboard: ${unused.join(', ')}`);
  });

  it('the query reader finds metrics and refuses what it cannot read (guards the check above)', () => {
    expect(selectorsOf('histogram_quantile(0.95, sum by (le) (rate(drc_x_bucket{job=~"$job"}[$__rate_interval])))')).toEqual([{ metric: 'drc_x_bucket', labels: ['job'] }]);
    expect(selectorsOf('max by (site) (drc_a{job=~"a"} and on (instance, job) (drc_b == 1)) / ignoring(x) drc_c offset 5m * 1e3').map((s) => s.metric)).toEqual(['drc_a', 'drc_b', 'drc_c']);
    expect(() => selectorsOf('{__name__="drc_a"}')).toThrow(/without a metric name/);
    const { declared } = coordinatorMetrics();
    expect(exportedMetricOf('process_cpu_seconds_total', declared)).toBeUndefined();
    expect(exportedMetricOf('drc_failover_duration_seconds', declared)).toBeUndefined(); // a histogram has no bare series
    expect(exportedMetricOf('drc_failover_duration_seconds_bucket', declared)?.suffix).toBe('bucket');
  });
});
