import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatFieldIssues, parseAgentConfig } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../harness';
import { findExecutable } from './nats-cluster';

const unitFile = join(repoRoot, 'deploy/systemd/drc-site-agent.service');

/** Pure. A systemd unit file as sections of (key, value) entries, in order; throws naming the line it cannot read. */
function parseUnit(text: string): Map<string, Array<[string, string]>> {
  const sections = new Map<string, Array<[string, string]>>();
  let current: Array<[string, string]> | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const section = line.match(/^\[([A-Za-z]+)\]$/);
    if (section) {
      if (sections.has(section[1]!)) throw new Error(`line ${i + 1}: section [${section[1]}] appears twice`);
      current = [];
      sections.set(section[1]!, current);
      return;
    }
    const kv = line.match(/^([A-Za-z][A-Za-z0-9]*)=(.*)$/);
    if (!kv) throw new Error(`line ${i + 1}: expected Key=Value, got "${line}"`);
    if (!current) throw new Error(`line ${i + 1}: ${kv[1]} outside any section`);
    current.push([kv[1]!, kv[2]!]);
  });
  return sections;
}

const systemdAnalyze = findExecutable('systemd-analyze');
if (!systemdAnalyze) console.warn('[deploy/systemd] systemd-analyze verify not run: systemd-analyze is not installed (the unit is still checked by the parser test)');

describe('deploy/systemd/drc-site-agent.service', () => {
  const text = readFileSync(unitFile, 'utf8');

  it.skipIf(!systemdAnalyze)('is accepted by systemd-analyze verify without a warning', () => {
    const r = spawnSync(systemdAnalyze!, ['verify', unitFile], { encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`;
    // verify exits 0 on keys it ignores; it names the file (and line) for each: none may be there.
    expect(out.split('\n').filter((l) => l.includes('drc-site-agent.service')).join('\n')).toBe('');
    expect(r.status, out).toBe(0);
  });

  it('parser check: sections, the ExecStart the agent understands, restarts that stop on bad configuration', () => {
    const unit = parseUnit(text);
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    const get = (s: string, k: string) => (unit.get(s) ?? []).filter(([key]) => key === k).map(([, v]) => v);
    expect(get('Unit', 'Description')[0]).toMatch(/drc site agent/);
    expect(get('Unit', 'After')).toContain('network-online.target');
    expect(get('Install', 'WantedBy')).toEqual(['multi-user.target']);
    expect(get('Service', 'User')[0]).toMatch(/^(?!root$)[a-z_][a-z0-9_-]*$/);
    expect(get('Service', 'Restart')).toEqual(['on-failure']);
    // Exit code 2 is the agent's "bad arguments or configuration" (services/site-agent/src/main.ts).
    expect(get('Service', 'RestartPreventExitStatus')).toEqual(['2']);
    expect(get('Service', 'EnvironmentFile')[0]).toMatch(/^-?\/etc\/drc\//);

    const [exec] = get('Service', 'ExecStart');
    const argv = exec!.split(/\s+/);
    expect(argv[0]).toMatch(/^\/.*\/node$/);
    const script = argv.find((a) => a.endsWith('main.ts'))!;
    expect(script).toBe('/opt/drc/services/site-agent/src/main.ts');
    expect(existsSync(join(repoRoot, script.replace('/opt/drc/', '')))).toBe(true);
    // Every flag it passes is one the agent parses.
    const main = readFileSync(join(repoRoot, 'services/site-agent/src/main.ts'), 'utf8');
    for (const flag of argv.filter((a) => a.startsWith('--') && a !== '--import')) {
      expect(main, `the agent has no ${flag} flag`).toMatch(new RegExp(`['\\s]${flag.slice(2)}'?: \\{ type:`));
    }
    // The state directory systemd creates is the one the agent keeps its journal in.
    const stateDir = get('Service', 'StateDirectory')[0];
    expect(get('Service', 'Environment')).toContain(`DRC_STATE_DIR=/var/lib/${stateDir}`);
  });

  it('the example agent settings and environment it installs are valid and name the same site', () => {
    const r = parseAgentConfig(parseYaml(readFileSync(join(repoRoot, 'deploy/systemd/agent.yaml'), 'utf8')));
    expect(r.ok, r.ok ? '' : formatFieldIssues(r.issues)).toBe(true);
    if (!r.ok) return;
    expect(r.value.stateDir).toBe('/var/lib/drc-agent');
    const env = readFileSync(join(repoRoot, 'deploy/systemd/site-agent.env.example'), 'utf8');
    expect(env).toMatch(new RegExp(`^NATS_USER=site-${r.value.site}$`, 'm'));
    expect(text).toContain('--agent-config /etc/drc/agent.yaml');
  });

  it('parser check refuses what systemd would not read (guards the check above)', () => {
    expect(() => parseUnit('[Service]\nExecStart /usr/bin/node\n')).toThrow(/line 2: expected Key=Value/);
    expect(() => parseUnit('ExecStart=/usr/bin/node\n')).toThrow(/outside any section/);
  });
});
