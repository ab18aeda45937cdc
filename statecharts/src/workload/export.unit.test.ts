import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { toJson, toMermaid } from './export';

const read = (rel: string) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
const mermaidBlock = (md: string) => md.split('```mermaid\n')[1]?.split('```')[0];

describe('statechart export - the pictures in the READMEs are the machine', () => {
  it('draws every state and labels transitions with their events', () => {
    const m = toMermaid();
    for (const s of ['protected', 'degraded', 'suspect', 'foFencing', 'foSelecting', 'failedOver', 'reprotecting', 'soSyncing', 'escalated', 'paused', 'workload_drill_running']) expect(m).toContain(s);
    expect(m).toContain('suspect --> failingOver : after debounce');
    expect(JSON.stringify(toJson())).toContain('"key":"awaitingApproval"');
  });

  it('statecharts/README.md and the top README show the current diagram (regenerate with `npm run drc -- statechart`)', () => {
    expect(mermaidBlock(read('../../README.md'))).toBe(toMermaid());
    expect(mermaidBlock(read('../../../README.md'))).toBe(toMermaid());
  });
});
