import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import ts from 'typescript';

/*
 * The repository's import graph, read with the TypeScript compiler's own import scanner
 * (`preProcessFile`: static imports, `import type`, re-exports, `import('literal')`), so the
 * layering of issue 18 can be checked by a test: contracts <- statecharts <- services <- e2e,
 * no import circle, production code never importing test code.
 */

export interface Workspace {
  /** The package name, e.g. `@drc/coordinator`. */
  name: string;
  /** Its folder, relative to the repository root, e.g. `services/coordinator`. */
  dir: string;
  /** Its layer: a workspace may import only its own layer or lower ones. */
  layer: number;
  /** Its `exports` subpaths (`.`, `./testing`) as repository-relative files. */
  entries: Map<string, string>;
}

export interface ImportEdge {
  /** Repository-relative path of the importing file. */
  from: string;
  /** Repository-relative path of the imported file. */
  to: string;
  specifier: string;
}

export interface ImportGraph {
  workspaces: Workspace[];
  /** Every source file read, repository-relative. */
  files: string[];
  edges: ImportEdge[];
  /** Imports of packages outside the repository (`node:*`, npm), by file. */
  external: Array<{ from: string; specifier: string }>;
  /** Relative imports that resolve to no file (a broken import is a finding too). */
  unresolved: Array<{ from: string; specifier: string }>;
}

/** Layers, lowest first: contracts <- statecharts <- services <- e2e; anything else (bench) sits on top. */
const LAYERS: ReadonlyArray<[RegExp, number]> = [
  [/^contracts$/, 0],
  [/^statecharts$/, 1],
  [/^services\/[^/]+$/, 2],
  [/^e2e$/, 3],
];

/**
 * Pure. Code that is not shipped: test files, fixtures, `test/` and `testing/` folders, the
 * test kit and the e2e suite as a whole, and the benches.
 */
export function isTestCode(file: string): boolean {
  return /\.test\.tsx?$/.test(file) || /\.fixture\.tsx?$/.test(file) || /(^|\/)(test|testing)\//.test(file) || /^(services\/test-kit|e2e|bench)\//.test(file);
}

/** Not pure (reads package.json files). The repository's workspaces with their layers and entry files. */
export function listWorkspaces(root: string): Workspace[] {
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces?: string[] };
  const dirs: string[] = [];
  for (const pattern of rootPkg.workspaces ?? []) {
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const d of readdirSync(join(root, parent)).sort()) if (existsSync(join(root, parent, d, 'package.json'))) dirs.push(`${parent}/${d}`);
    } else if (existsSync(join(root, pattern, 'package.json'))) dirs.push(pattern);
  }
  return dirs.map((dir) => {
    const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { name: string; exports?: string | Record<string, string> };
    const exportsMap = typeof pkg.exports === 'string' ? { '.': pkg.exports } : (pkg.exports ?? { '.': './src/index.ts' });
    const entries = new Map(Object.entries(exportsMap).map(([sub, file]) => [sub, posix.join(dir, file)]));
    const layer = LAYERS.find(([re]) => re.test(dir))?.[1] ?? LAYERS.length;
    return { name: pkg.name, dir, layer, entries };
  });
}

function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string) => {
    if (!existsSync(abs)) return;
    for (const name of readdirSync(abs).sort()) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const p = join(abs, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(m?ts|tsx)$/.test(name) && !name.endsWith('.d.ts')) out.push(relative(root, p).split('\\').join('/'));
    }
  };
  walk(join(root, dir));
  return out;
}

function resolveRelative(root: string, fromFile: string, specifier: string): string | undefined {
  const base = resolve(root, dirname(fromFile), specifier);
  const stem = base.replace(/\.(m?js|jsx)$/, '');
  const candidates = [base, `${stem}.ts`, `${stem}.tsx`, `${stem}.mts`, join(base, 'index.ts'), join(base, 'index.tsx')];
  const hit = candidates.find((c) => /\.(m?ts|tsx)$/.test(c) && existsSync(c) && statSync(c).isFile());
  return hit === undefined ? undefined : relative(root, hit).split('\\').join('/');
}

/**
 * Not pure (reads the files). Every workspace's `src/` (and `extraDirs`, e.g. `bench`) and the
 * imports between them: relative ones resolved to files, `@drc/<name>[/<subpath>]` to the
 * package's exported entry file.
 */
export function readImportGraph(root: string, extraDirs: readonly string[] = []): ImportGraph {
  const workspaces = listWorkspaces(root);
  const byName = new Map(workspaces.map((w) => [w.name, w]));
  const files = [...workspaces.flatMap((w) => sourceFiles(root, `${w.dir}/src`)), ...extraDirs.flatMap((d) => sourceFiles(root, d))];
  const edges: ImportEdge[] = [];
  const external: ImportGraph['external'] = [];
  const unresolved: ImportGraph['unresolved'] = [];
  for (const from of files) {
    const info = ts.preProcessFile(readFileSync(join(root, from), 'utf8'), true, true);
    for (const { fileName: specifier } of info.importedFiles) {
      if (specifier.startsWith('.')) {
        const to = resolveRelative(root, from, specifier);
        if (to === undefined) unresolved.push({ from, specifier });
        else edges.push({ from, to, specifier });
        continue;
      }
      const m = /^(@drc\/[^/]+)(?:\/(.+))?$/.exec(specifier);
      const ws = m ? byName.get(m[1]!) : undefined;
      if (!ws) {
        external.push({ from, specifier });
        continue;
      }
      const to = ws.entries.get(m![2] === undefined ? '.' : `./${m![2]}`);
      if (to === undefined) unresolved.push({ from, specifier });
      else edges.push({ from, to, specifier });
    }
  }
  return { workspaces, files, edges, external, unresolved };
}

/**
 * Pure. The import circles of a graph: one per strongly connected component (Tarjan), as a
 * closed path `[a, b, …, a]` through it, starting at its alphabetically first file.
 * `members` lists the whole component (a circle can pass through more files than one path shows).
 */
export function findImportCycles(edges: readonly ImportEdge[]): Array<{ path: string[]; members: string[] }> {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    const list = next.get(e.from) ?? [];
    if (!list.includes(e.to)) list.push(e.to);
    next.set(e.from, list);
  }
  for (const list of next.values()) list.sort();
  const nodes = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort();
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  // Iterative Tarjan: the graph has thousands of files, recursion depth is not worth the risk.
  for (const start of nodes) {
    if (idx.has(start)) continue;
    const work: Array<{ node: string; i: number }> = [{ node: start, i: 0 }];
    idx.set(start, index);
    low.set(start, index++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const succ = next.get(top.node) ?? [];
      if (top.i < succ.length) {
        const w = succ[top.i++]!;
        if (!idx.has(w)) {
          idx.set(w, index);
          low.set(w, index++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, i: 0 });
        } else if (onStack.has(w)) low.set(top.node, Math.min(low.get(top.node)!, idx.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]!.node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === idx.get(top.node)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.node);
        const selfLoop = comp.length === 1 && (next.get(comp[0]!) ?? []).includes(comp[0]!);
        if (comp.length > 1 || selfLoop) components.push(comp.sort());
      }
    }
  }
  return components
    .map((members) => {
      const inComp = new Set(members);
      const first = members[0]!;
      // Shortest way back to the first file, inside the component.
      const prev = new Map<string, string>();
      const queue = [first];
      let found = false;
      while (queue.length > 0 && !found) {
        const n = queue.shift()!;
        for (const w of next.get(n) ?? []) {
          if (!inComp.has(w)) continue;
          if (w === first) {
            prev.set(first, n);
            found = true;
            break;
          }
          if (!prev.has(w)) {
            prev.set(w, n);
            queue.push(w);
          }
        }
      }
      const path = [first];
      for (let n = prev.get(first)!; n !== first; n = prev.get(n)!) path.unshift(n);
      path.unshift(first);
      return { path, members };
    })
    .sort((a, b) => a.path[0]!.localeCompare(b.path[0]!));
}

/** Pure. The workspace a repository-relative file belongs to (none for bench and the like). */
export function workspaceOf(workspaces: readonly Workspace[], file: string): Workspace | undefined {
  return workspaces.find((w) => file.startsWith(`${w.dir}/`));
}

/**
 * Pure. Imports that break the layering, each as a sentence naming both files: a workspace
 * importing a higher layer, anything importing e2e from outside it, production code importing
 * test code (the test kit, a test or fixture file, vitest), and one workspace reaching into
 * another by a relative path instead of its package entry.
 */
export function layerViolations(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const e of graph.edges) {
    const a = workspaceOf(graph.workspaces, e.from);
    const b = workspaceOf(graph.workspaces, e.to);
    if (b?.dir === 'e2e' && a?.dir !== 'e2e') out.push(`${e.from} imports e2e (${e.specifier}): nothing imports the e2e suite; move what it needs into the test kit`);
    else if (a && b && b.layer > a.layer) out.push(`${e.from} (${a.name}, layer ${a.layer}) imports ${e.specifier} (${b.name}, layer ${b.layer}): a workspace imports only its own layer or lower ones`);
    if (a && b && a !== b && e.specifier.startsWith('.')) out.push(`${e.from} reaches into ${b.name} by a relative path (${e.specifier}): import its package entry`);
    if (!isTestCode(e.from) && isTestCode(e.to)) out.push(`${e.from} is production code and imports test code ${e.to} (${e.specifier})`);
  }
  for (const x of graph.external) {
    if (!isTestCode(x.from) && (x.specifier === 'vitest' || x.specifier.startsWith('vitest/'))) out.push(`${x.from} is production code and imports ${x.specifier}`);
  }
  return out;
}

/**
 * Pure. Circles between workspaces in production code: an edge A -> B for each production
 * file of A importing B. (Test files may import upward through the test kit; a module
 * circle among them is still caught by findImportCycles.)
 */
export function workspaceCycles(graph: ImportGraph): string[][] {
  const edges: ImportEdge[] = [];
  for (const e of graph.edges) {
    if (isTestCode(e.from)) continue;
    const a = workspaceOf(graph.workspaces, e.from);
    const b = workspaceOf(graph.workspaces, e.to);
    if (a && b && a !== b) edges.push({ from: a.name, to: b.name, specifier: e.specifier });
  }
  return findImportCycles(edges).map((c) => c.path);
}
