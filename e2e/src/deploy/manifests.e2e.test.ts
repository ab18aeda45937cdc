import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { formatFieldIssues, parseDrcConfig } from '@drc/contracts';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { repoRoot } from '../harness';
import { findExecutable } from './nats-cluster';
import { composeValidator, formatErrors, kubernetesValidator } from './schemas';

const deployDir = join(repoRoot, 'deploy');
const k8sDir = join(deployDir, 'k8s');
const rel = (f: string) => relative(repoRoot, f);

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const asArr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

describe('deploy/compose.yaml', () => {
  const text = readFileSync(join(deployDir, 'compose.yaml'), 'utf8');
  // Compose reads YAML 1.1 merge keys (`<<: *anchor`): resolve them as it does.
  const compose = asObj(parseYaml(text, { merge: true }));
  const services = asObj(compose.services);

  it('is valid against the compose-spec JSON schema (deploy/schemas/compose-spec.json)', () => {
    const validate = composeValidator();
    expect(validate(compose), formatErrors(validate.errors)).toBe(true);
    // The validator is not a rubber stamp: a misspelt key is refused.
    expect(validate({ services: { x: { image: 'a', helthcheck: {} } } })).toBe(false);
  });

  it('runs the demo: a 3-node NATS cluster, PostgreSQL, two coordinators, three site agents, each with a healthcheck', () => {
    expect(Object.keys(services).sort()).toEqual(['agent-ams', 'agent-dub', 'agent-fra', 'coordinator-1', 'coordinator-2', 'nats-1', 'nats-2', 'nats-3', 'nats-init', 'postgres']);
    for (const [name, s] of Object.entries(services)) {
      if (name === 'nats-init') continue; // a one-shot job
      expect(asObj(asObj(s).healthcheck).test, `${name} healthcheck`).toBeDefined();
    }
    expect(JSON.stringify(asObj(services['coordinator-1']).healthcheck)).toContain('/readyz');
  });

  it('refers only to what exists: services, volumes, files, Dockerfiles and .env.example variables', () => {
    const volumes = new Set(Object.keys(asObj(compose.volumes)));
    const envExample = readFileSync(join(deployDir, '.env.example'), 'utf8');
    for (const [name, raw] of Object.entries(services)) {
      const s = asObj(raw);
      for (const dep of Object.keys(asObj(s.depends_on))) expect(services[dep], `${name} depends on unknown ${dep}`).toBeDefined();
      for (const v of asArr(s.volumes)) {
        const source = String(v).split(':')[0]!;
        if (source.startsWith('.')) expect(existsSync(resolve(deployDir, source)), `${name} mounts missing ${source}`).toBe(true);
        else expect(volumes.has(source), `${name} uses undeclared volume ${source}`).toBe(true);
      }
      const build = asObj(s.build);
      if (build.dockerfile) expect(existsSync(resolve(deployDir, String(build.context), String(build.dockerfile))), `${name} Dockerfile`).toBe(true);
    }
    const vars = new Set([...text.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!));
    expect(vars.size).toBeGreaterThan(3);
    for (const v of vars) expect(envExample, `${v} is not in deploy/.env.example`).toMatch(new RegExp(`^#? ?${v}=`, 'm'));
  });

  it("connects each agent as its own site's NATS user, for a site of the config it mounts, probing the other agents", () => {
    const config = parseDrcConfig(parseYaml(readFileSync(join(repoRoot, 'examples/three-sites.yaml'), 'utf8')));
    expect(config.ok).toBe(true);
    const siteIds = config.ok ? config.value.sites.map((s) => s.id) : [];
    const agents = Object.entries(services).filter(([n]) => n.startsWith('agent-'));
    expect(agents.map(([n]) => n.slice('agent-'.length)).sort()).toEqual([...siteIds].sort());
    for (const [name, raw] of agents) {
      const s = asObj(raw);
      const args = asArr(s.command).map(String);
      const site = args[args.indexOf('--site') + 1];
      expect(name).toBe(`agent-${site}`);
      expect(asObj(s.environment).NATS_USER).toBe(`site-${site}`);
      expect(asArr(s.volumes).map(String)).toContain('../examples/three-sites.yaml:/etc/drc/drc.yaml:ro');
      const peers = args.filter((_a, i) => args[i - 1] === '--witness-peer').map((p) => p.split('=')[0]).sort();
      expect(peers).toEqual(siteIds.filter((x) => x !== site).sort());
    }
  });
});

describe('deploy/docker - Dockerfiles', () => {
  for (const [name, entry] of [['coordinator', 'services/coordinator/src/main.ts'], ['site-agent', 'services/site-agent/src/main.ts']] as const) {
    it(`${name}: multi-stage on Node 24, runs ${entry} as a non-root user, copies only what exists`, () => {
      const file = join(deployDir, 'docker', `${name}.Dockerfile`);
      const lines = readFileSync(file, 'utf8').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
      expect(lines.find((l) => l.startsWith('ARG NODE_IMAGE='))).toMatch(/^ARG NODE_IMAGE=node:24[.-]/);
      const stages = lines.filter((l) => l.startsWith('FROM '));
      expect(stages.length).toBeGreaterThanOrEqual(2);
      const last = lines.slice(lines.lastIndexOf(stages.at(-1)!));
      const user = last.filter((l) => l.startsWith('USER ')).at(-1);
      expect(user).toBeDefined();
      expect(user).not.toMatch(/^USER (root|0)(:|$)/);
      expect(last.find((l) => l.startsWith('ENTRYPOINT'))).toContain(entry);
      expect(existsSync(join(repoRoot, entry))).toBe(true);
      for (const l of lines.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
        const parts = l.split(/\s+/).slice(1, -1);
        for (const src of parts) if (src !== '.') expect(existsSync(join(repoRoot, src)), `${rel(file)}: COPY ${src}`).toBe(true);
      }
      expect(existsSync(`${file}.dockerignore`)).toBe(true);
    });
  }
});

/** Not pure. Every YAML file under a folder. */
function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(f) ? [p] : [];
  });
}

/** Not pure. The documents of a YAML file (a multi-document stream too). */
function docsOf(text: string, where: string): Obj[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(`${where}: ${d.errors[0]!.message}`);
    return asObj(d.toJS());
  });
}

const kustomizations = yamlFiles(k8sDir).filter((f) => /kustomization\.ya?ml$/.test(f));
/** Files a kustomization uses as patches or generator inputs: not standalone manifests. */
const notManifests = new Set(
  kustomizations.flatMap((k) => {
    const doc = asObj(parseYaml(readFileSync(k, 'utf8')));
    const patches = asArr(doc.patches).map((p) => asObj(p).path).filter(Boolean);
    const generated = asArr(doc.configMapGenerator).flatMap((g) => asArr(asObj(g).files).map((f) => String(f).split('=').pop()));
    return [...patches, ...generated].map((p) => resolve(dirname(k), String(p)));
  }),
);

const kustomize = findExecutable('kubectl') ?? findExecutable('kustomize');
if (!kustomize) console.warn('[deploy/k8s] kustomize builds not checked: neither kubectl nor kustomize is installed (each manifest file is still validated)');

/** Not pure. `kubectl kustomize DIR` (or `kustomize build DIR`): the objects an overlay applies. */
function build(dir: string): Obj[] {
  const args = kustomize!.endsWith('kubectl') ? ['kustomize', dir] : ['build', dir];
  const r = spawnSync(kustomize!, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${kustomize} ${args.join(' ')} failed:\n${r.stderr}`);
  return docsOf(r.stdout, `kustomize ${rel(dir)}`);
}

describe('deploy/k8s - Kubernetes manifests against the Kubernetes JSON schemas (deploy/schemas)', () => {
  const k8s = kubernetesValidator();

  it('every manifest file is a valid Kubernetes object (strict: no unknown fields)', () => {
    const files = yamlFiles(k8sDir).filter((f) => !kustomizations.includes(f) && !notManifests.has(f));
    expect(files.map(rel)).toContain('deploy/k8s/base/deployment.yaml');
    for (const f of files) {
      for (const doc of docsOf(readFileSync(f, 'utf8'), rel(f))) expect(k8s.validate(doc), `${rel(f)}: ${String(doc.kind)}`).toBeUndefined();
    }
    // And the validator refuses a misspelt field and a wrong type.
    const dep = docsOf(readFileSync(join(k8sDir, 'base/deployment.yaml'), 'utf8'), 'deployment')[0]!;
    expect(k8s.validate({ ...dep, spec: { ...asObj(dep.spec), replica: 2 } })).toMatch(/additional properties "replica"/);
    expect(k8s.validate({ ...dep, spec: { ...asObj(dep.spec), replicas: 'two' } })).toMatch(/replicas must be integer/);
  });

  it('the drc configuration in the ConfigMaps is valid drc configuration', () => {
    const configs = [...notManifests].filter((f) => f.endsWith('drc.yaml'));
    expect(configs.length).toBeGreaterThan(0);
    for (const f of configs) {
      const r = parseDrcConfig(parseYaml(readFileSync(f, 'utf8')));
      expect(r.ok, `${rel(f)}: ${r.ok ? '' : formatFieldIssues(r.issues)}`).toBe(true);
    }
  });

  for (const overlay of ['base', 'overlays/production']) {
    it.skipIf(!kustomize)(`kustomize ${overlay}: every object is valid, and the coordinator is deployed as promised`, () => {
      const objects = build(join(k8sDir, overlay));
      for (const o of objects) expect(k8s.validate(o), `${overlay}: ${String(o.kind)}/${String(asObj(o.metadata).name)}`).toBeUndefined();
      checkCoordinatorObjects(objects, overlay);
    });
  }
});

/** Not pure (reads the coordinator's API source). The promises of issue 12 about the built objects. */
function checkCoordinatorObjects(objects: Obj[], where: string): void {
  const of = (kind: string) => objects.filter((o) => o.kind === kind);
  const [deployment] = of('Deployment');
  expect(deployment, `${where}: Deployment`).toBeDefined();
  const spec = asObj(deployment!.spec);
  expect(spec.replicas).toBe(2);
  const pod = asObj(spec.template);
  const podLabels = asObj(asObj(pod.metadata).labels);
  const podSpec = asObj(pod.spec);
  const container = asObj(asArr(podSpec.containers)[0]);
  const ports = asArr(container.ports).map(asObj);
  const http = ports.find((p) => p.name === 'http');
  expect(http?.containerPort).toBe(8080);
  const args = asArr(container.args).map(String);
  expect(args[args.indexOf('--port') + 1]).toBe(String(http?.containerPort));
  expect(args[args.indexOf('--host') + 1]).toBe('0.0.0.0');

  // Probe paths are the coordinator's own routes.
  const api = readFileSync(join(repoRoot, 'services/coordinator/src/api/app.ts'), 'utf8');
  for (const [probe, path] of [['startupProbe', '/healthz'], ['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
    const get = asObj(asObj(container[probe]).httpGet);
    expect(get, `${where}: ${probe}`).toMatchObject({ path, port: 'http' });
    expect(api).toContain(`app.get('${path}'`);
  }
  expect(api).toContain("app.get('/metrics'");

  const selects = (selector: unknown) => Object.entries(asObj(selector)).every(([k, v]) => podLabels[k] === v);
  const [pdb] = of('PodDisruptionBudget');
  expect(selects(asObj(asObj(pdb?.spec).selector).matchLabels), `${where}: PDB selects the coordinators`).toBe(true);
  expect(Number(asObj(pdb?.spec).minAvailable)).toBeLessThan(Number(spec.replicas));

  const [service] = of('Service');
  expect(selects(asObj(service?.spec).selector), `${where}: Service selects the coordinators`).toBe(true);
  const metrics = asArr(asObj(service?.spec).ports).map(asObj).find((p) => p.name === 'metrics');
  expect(metrics, `${where}: Service has a port named metrics`).toBeDefined();
  expect(ports.some((p) => p.name === metrics!.targetPort || p.containerPort === metrics!.targetPort)).toBe(true);

  // ConfigMap and Secret: what the pod mounts and reads is there.
  const configMaps = new Map(of('ConfigMap').map((c) => [String(asObj(c.metadata).name), asObj(c.data)]));
  const volumes = asArr(podSpec.volumes).map(asObj);
  const configVolume = volumes.find((v) => asObj(v.configMap).name && asArr(container.volumeMounts).some((m) => asObj(m).name === v.name && asObj(m).mountPath === '/etc/drc'));
  const drcYaml = configMaps.get(String(asObj(configVolume?.configMap).name))?.['drc.yaml'];
  expect(typeof drcYaml, `${where}: drc.yaml in the mounted ConfigMap`).toBe('string');
  const secrets = new Map(of('Secret').map((s) => [String(asObj(s.metadata).name), { ...asObj(s.stringData), ...asObj(s.data) }]));
  for (const e of asArr(container.env).map(asObj)) {
    const ref = asObj(asObj(e.valueFrom).secretKeyRef);
    if (ref.name) expect(secrets.get(String(ref.name))?.[String(ref.key)], `${where}: secret ${String(ref.name)}/${String(ref.key)}`).toBeDefined();
  }
  // The API tokens in the Secret are the ones whose hashes the config accepts.
  const config = parseDrcConfig(parseYaml(String(drcYaml)));
  expect(config.ok).toBe(true);
  const hashes = new Set(config.ok ? (config.value.auth?.tokens ?? []).map((t) => t.sha256) : []);
  const tokens = Object.entries(secrets.get('drc-coordinator') ?? {}).filter(([k]) => k.startsWith('DRC_TOKEN_'));
  expect(tokens.length).toBeGreaterThan(0);
  for (const [k, v] of tokens) expect(hashes.has(createHash('sha256').update(String(v)).digest('hex')), `${where}: sha256 of ${k} in auth.tokens`).toBe(true);
}
