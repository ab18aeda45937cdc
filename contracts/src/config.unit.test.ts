import { describe, expect, it } from 'vitest';
import { effectivePolicy, formatFieldIssues, parseDrcConfig } from './index';

const base = {
  sites: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
  workloads: [
    { id: 'db1', driver: 'sim', primarySite: 'A', replicaSites: ['B'] },
    { id: 'db2', driver: 'sim', primarySite: 'B', replicaSites: ['C'] },
    { id: 'db3', driver: 'sim', primarySite: 'C', replicaSites: ['A'], rpoSeconds: 5 },
  ],
};

describe('config - validation names every bad field', () => {
  it('accepts a valid config and applies defaults', () => {
    const r = parseDrcConfig(base);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.nats.prefix).toBe('drc');
    expect(r.value.workloads[0]?.driver).toEqual({ type: 'sim', settings: {}, sites: {} });
    expect(effectivePolicy(r.value, r.value.workloads[2]!).rpoSeconds).toBe(5);
  });

  it('rejects a negative RPO and an unknown site, naming both paths', () => {
    const bad: { sites: unknown; workloads: Array<Record<string, unknown>> } = structuredClone(base);
    bad.workloads[2] = { ...bad.workloads[2], rpoSeconds: -1 };
    bad.workloads[1] = { ...bad.workloads[1], replicaSites: ['Z'] };
    const r = parseDrcConfig(bad);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = formatFieldIssues(r.issues);
    expect(text).toContain('workloads[2].rpoSeconds: expected a positive number');
    expect(text).toContain('workloads[1].replicaSites[0]: unknown site "Z"');
  });

  it('accepts an http witness URL per site and names a bad one', () => {
    const ok = parseDrcConfig({ ...base, sites: [{ id: 'A', witnessUrl: 'http://10.0.0.5:7811' }, { id: 'B' }, { id: 'C' }] });
    expect(ok.ok && ok.value.sites[0]?.witnessUrl).toBe('http://10.0.0.5:7811');
    const bad = parseDrcConfig({ ...base, sites: [{ id: 'A' }, { id: 'B', witnessUrl: 'ftp://x' }, { id: 'C' }] });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(formatFieldIssues(bad.issues)).toContain('sites[1].witnessUrl: expected an http(s) URL');
  });

  it('validates recovery plans: every workload, group, site and dependency named in a plan exists', () => {
    const r = parseDrcConfig({
      ...base,
      plans: [
        {
          name: 'p1',
          recoverySite: 'Q',
          trigger: { siteLost: 'A' },
          tiers: [
            { name: 'one', workloads: ['db1', { id: 'ghost' }, { id: 'db2', after: ['db3'] }], groups: ['nogroup'] },
            { name: 'two', workloads: ['db1'], before: [{ hook: { command: ['x'], url: 'http://h/' } }] },
          ],
        },
      ],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = formatFieldIssues(r.issues);
    expect(text).toContain('plans[0].recoverySite: unknown site "Q"');
    expect(text).toContain('plans[0].tiers[0].workloads[1].id: unknown workload "ghost"');
    expect(text).toContain('plans[0].tiers[0].workloads[2].after[0]: "db3" is not another workload of this tier');
    expect(text).toContain('plans[0].tiers[0].groups[0]: unknown group "nogroup"');
    expect(text).toContain('plans[0].tiers[1].workloads[0].id: workload "db1" appears twice in the plan');
    expect(text).toContain('plans[0].tiers[1].before[0].hook: expected exactly one of command or url');
  });

  it('rejects duplicate ids, a replica on the primary site and unknown keys', () => {
    const r = parseDrcConfig({
      sites: [{ id: 'A' }, { id: 'A' }],
      workloads: [{ id: 'w', driver: 'sim', primarySite: 'A', replicaSites: ['A'], bogus: 1 }],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const paths = r.issues.map((i) => i.path);
    expect(paths).toContain('workloads[0]');
    expect(r.issues.some((i) => i.message.includes('bogus'))).toBe(true);
  });
});
