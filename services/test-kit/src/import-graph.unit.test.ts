import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findImportCycles, layerViolations, readImportGraph, workspaceCycles, type ImportEdge, type ImportGraph, type Workspace } from './import-graph';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Known circles, each the set of files of one import circle (a circle of only some of these
 * files is allowed too), with who owns them. A new circle, or one that grows beyond its entry,
 * fails. Empty is the goal, and so it is: keep it so.
 */
const ALLOWED_CYCLES: ReadonlyArray<{ owner: string; files: readonly string[] }> = [];

/** Known layering breaks, each with who owns it. None now: keep it so. */
const ALLOWED_VIOLATIONS: ReadonlyArray<{ owner: string; violation: string }> = [];

const edge = (from: string, to: string, specifier = to): ImportEdge => ({ from, to, specifier });

describe('import graph - the checker', () => {
  it('import graph - finds a circle of three, a file importing itself, and nothing in a tree', () => {
    const cycles = findImportCycles([edge('a.ts', 'b.ts'), edge('b.ts', 'c.ts'), edge('c.ts', 'a.ts'), edge('c.ts', 'd.ts'), edge('e.ts', 'e.ts'), edge('f.ts', 'd.ts')]);
    expect(cycles.map((c) => c.path)).toEqual([
      ['a.ts', 'b.ts', 'c.ts', 'a.ts'],
      ['e.ts', 'e.ts'],
    ]);
    expect(findImportCycles([edge('a.ts', 'b.ts'), edge('a.ts', 'c.ts'), edge('b.ts', 'c.ts')])).toEqual([]);
  });

  it('import graph - names a workspace importing upward, anything importing e2e, production importing test code', () => {
    const ws = (name: string, dir: string, layer: number): Workspace => ({ name, dir, layer, entries: new Map([['.', `${dir}/src/index.ts`]]) });
    const graph: ImportGraph = {
      workspaces: [ws('@drc/contracts', 'contracts', 0), ws('@drc/statecharts', 'statecharts', 1), ws('@drc/coordinator', 'services/coordinator', 2), ws('@drc/test-kit', 'services/test-kit', 2), ws('@drc/e2e', 'e2e', 3)],
      files: [],
      edges: [
        edge('statecharts/src/a.ts', 'services/coordinator/src/index.ts', '@drc/coordinator'),
        edge('services/coordinator/src/x.ts', 'services/test-kit/src/index.ts', '@drc/test-kit'),
        edge('services/coordinator/src/x.test.ts', 'services/test-kit/src/index.ts', '@drc/test-kit'),
        edge('services/coordinator/src/y.fixture.ts', 'services/test-kit/src/index.ts', '@drc/test-kit'),
        edge('bench/b.ts', 'e2e/src/harness.ts', '../e2e/src/harness'),
        edge('bench/b.ts', 'services/test-kit/src/index.ts', '@drc/test-kit'),
        edge('services/coordinator/src/a.ts', 'contracts/src/index.ts', '@drc/contracts'),
      ],
      external: [{ from: 'services/coordinator/src/z.ts', specifier: 'vitest' }],
      unresolved: [],
    };
    const v = layerViolations(graph);
    expect(v).toHaveLength(4);
    expect(v[0]).toMatch(/^statecharts\/src\/a\.ts .*layer 1.* imports @drc\/coordinator/);
    expect(v[1]).toMatch(/^services\/coordinator\/src\/x\.ts is production code and imports test code/);
    expect(v[2]).toMatch(/^bench\/b\.ts imports e2e/);
    expect(v[3]).toBe('services/coordinator/src/z.ts is production code and imports vitest');
  });
});

describe('import graph - this repository (issue 18: no import circle, dependencies point one way)', () => {
  const graph = readImportGraph(root, ['bench']);

  it('import graph - reads every workspace and resolves every relative and @drc/* import', () => {
    expect(graph.workspaces.map((w) => w.dir)).toEqual(expect.arrayContaining(['contracts', 'statecharts', 'services/coordinator', 'services/test-kit', 'e2e']));
    expect(graph.files.length).toBeGreaterThan(100);
    expect(graph.unresolved).toEqual([]);
  });

  it('import graph - no import circle between files (beyond the listed ones)', () => {
    const unexpected = findImportCycles(graph.edges).filter((c) => !ALLOWED_CYCLES.some((a) => c.members.every((m) => a.files.includes(m))));
    expect(unexpected.map((c) => `${c.path.join(' -> ')}${c.members.length > c.path.length - 1 ? ` (circle of ${c.members.length} files: ${c.members.join(', ')})` : ''}`)).toEqual([]);
  });

  it('import graph - no circle between workspaces in production code', () => {
    expect(workspaceCycles(graph).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('import graph - contracts <- statecharts <- services <- e2e, nothing imports e2e, production code imports no test code', () => {
    const unexpected = layerViolations(graph).filter((v) => !ALLOWED_VIOLATIONS.some((a) => a.violation === v));
    expect(unexpected).toEqual([]);
  });
});
