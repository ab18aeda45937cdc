import type { OperatorCommandName } from '@drc/contracts';
import { getAdjacencyMap, toDirectedGraph, type DirectedGraphNode } from '@xstate/graph';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AnyStateNode } from 'xstate';
import { workloadMachine, type WorkloadEvent } from './machine';
import { setupWith } from './test-harness';
import { inSync, isDegraded } from './context';
import type { WorkloadSnapshot } from './api';

/*
 * Model-based coverage: @xstate/graph walks every state the machine can reach under a
 * representative event generator (two sites, fixed time), and the test demands that every state
 * node is reachable and every transition the machine defines is taken by some step.
 * A new state or transition that no path exercises makes this test fail.
 */

const AT = 1_000_000;
const SITES = ['A', 'B'];
const COMMANDS: OperatorCommandName[] = ['failover', 'switchover', 'failback', 'reprotect', 'approve', 'reject', 'pause', 'resume', 'acknowledge', 'drillStart', 'drillCleanup'];

const active = (s: WorkloadSnapshot): AnyStateNode[] => (s as unknown as { _nodes: AnyStateNode[] })._nodes;

function eventsFor(s: WorkloadSnapshot, drillOnly = false): WorkloadEvent[] {
  const c = s.context;
  const other = SITES.find((x) => x !== c.primarySite)!;
  const out: WorkloadEvent[] = [];
  for (const node of active(s)) for (const t of node.after) out.push({ type: t.eventType as `xstate.after.${string}`, at: AT });
  for (const id of [c.op?.commandId, c.drill?.commandId]) {
    if (!id) continue;
    const [, , , action, siteId] = id.split(':');
    for (const reason of [undefined, 'disk full', 'unsupported: no such capability']) {
      out.push({ type: 'COMMAND_RESULT', at: AT, commandId: id, siteId: siteId!, action: action as 'fence', epoch: c.epoch, status: reason ? 'failed' : 'done', detail: {}, ...(reason ? { reason } : {}) });
    }
  }
  // Facts a state can act on (a guided generator keeps the graph small): the other copy in
  // sync, lagging, or down; the promotion target reporting itself primary; the old primary back.
  out.push({ type: 'REPLICA_STATUS', at: AT, siteId: other, healthy: true, role: 'replica', lagSeconds: 0, position: '100' });
  out.push({ type: 'REPLICA_STATUS', at: AT, siteId: other, healthy: true, role: 'replica', lagSeconds: 100, position: '1' });
  out.push({ type: 'REPLICA_STATUS', at: AT, siteId: other, healthy: false, role: 'replica' });
  if (c.op?.target) out.push({ type: 'REPLICA_STATUS', at: AT, siteId: c.op.target, healthy: true, role: 'primary', lagSeconds: 0, position: '200' });
  if (c.previousPrimary) {
    out.push({ type: 'REPLICA_STATUS', at: AT, siteId: c.previousPrimary, healthy: true, role: 'fenced' });
    out.push({ type: 'REPLICA_STATUS', at: AT, siteId: c.previousPrimary, healthy: true, role: 'replica', lagSeconds: 0, position: '100' });
  }
  out.push({ type: 'SITE_STATUS', at: AT, siteId: c.primarySite, status: 'lost', leaseExpiredAt: AT - 10_000, evidence: [] });
  out.push({ type: 'SITE_STATUS', at: AT, siteId: other, status: 'lost', leaseExpiredAt: AT - 10_000, evidence: [] });
  for (const siteId of SITES) if (c.sites[siteId]?.lost) out.push({ type: 'SITE_STATUS', at: AT, siteId, status: 'up', evidence: [] });
  out.push({ type: 'PRIMARY_FAILED', at: AT, siteId: c.primarySite, reason: 'siteLost', evidence: [], leaseExpiredAt: AT - 10_000 });
  out.push({ type: 'PRIMARY_FAILED', at: AT, siteId: c.primarySite, reason: 'unhealthy', evidence: [] });
  out.push({ type: 'PRIMARY_RECOVERED', at: AT, siteId: c.primarySite });
  if (drillOnly) {
    return out.filter((e) => e.type === 'COMMAND_RESULT' || e.type.startsWith('xstate.after')).concat(
      (['drillStart', 'drillCleanup'] as const).map((command) => ({ type: 'OPERATOR_COMMAND' as const, at: AT, command, actor: { kind: 'operator' as const, id: 'm' }, requestId: 'r', targetSite: other })),
    );
  }
  for (const command of COMMANDS.filter((x) => !x.startsWith('drill'))) {
    out.push({ type: 'OPERATOR_COMMAND', at: AT, command, actor: { kind: 'operator', id: 'm' }, requestId: 'r', ...(['switchover', 'drillStart'].includes(command) ? { targetSite: other } : {}) });
  }
  out.push({ type: 'OPERATOR_COMMAND', at: AT, command: 'failover', actor: { kind: 'operator', id: 'm' }, requestId: 'r', targetSite: other });
  return out;
}

/**
 * What distinguishes states for the machine's guards (not clocks, counters or raw site facts),
 * so the graph stays finite: two snapshots that every guard treats alike are one model state.
 */
function key(s: WorkloadSnapshot): string {
  const c = s.context;
  const other = SITES.find((x) => x !== c.primarySite)!;
  return JSON.stringify([s.value, c.primarySite, c.approvalFor, c.op?.kind, c.op?.attempt, c.lastFailoverAt !== undefined, c.previousPrimary !== undefined, isDegraded(c), inSync(c, other), c.primaryFailed, c.failbackDue]);
}

function walk(policy: Parameters<typeof setupWith>[0], drillOnly = false) {
  const setup = setupWith({ retries: 1, maxDataLossSeconds: 30, rpoSeconds: 30, ...policy }, SITES);
  const adj = getAdjacencyMap(workloadMachine, { input: setup, events: (snap) => eventsFor(snap, drillOnly), serializeState: (snap) => (drillOnly ? JSON.stringify([snap.value, snap.context.drill?.commandId]) : key(snap)), limit: 10_000_000 });
  const edges: Array<{ from: WorkloadSnapshot; type: string; to: WorkloadSnapshot }> = [];
  for (const entry of Object.values(adj)) {
    for (const t of Object.values(entry.transitions) as Array<{ event: WorkloadEvent; state: unknown }>) edges.push({ from: entry.state as WorkloadSnapshot, type: t.event.type, to: t.state as WorkloadSnapshot });
  }
  return { states: Object.values(adj).map((e) => e.state as WorkloadSnapshot), edges };
}

function allNodes(n: DirectedGraphNode): DirectedGraphNode[] {
  return [n, ...n.children.flatMap(allNodes)];
}

describe('workload machine - model-based coverage (@xstate/graph)', () => {
  let states: WorkloadSnapshot[] = [];
  let edges: Array<{ from: WorkloadSnapshot; type: string; to: WorkloadSnapshot }> = [];
  let reached = new Set<string>();
  const graph = toDirectedGraph(workloadMachine);
  const nodes = allNodes(graph).filter((n) => n.stateNode.type !== 'history');
  beforeAll(() => {
    const runs = [
      walk({ failoverMode: 'automatic', autoReprotect: true, autoFailback: true }),
      walk({ failoverMode: 'approval', autoReprotect: false }),
      walk({ failoverMode: 'manual', autoReprotect: false }),
      // The drill region is independent of protection: walked on its own.
      walk({}, true),
    ];
    states = runs.flatMap((r) => r.states);
    edges = runs.flatMap((r) => r.edges);
    reached = new Set(states.flatMap((s) => active(s).map((n) => n.id)));
    // The walk takes 5-20 s on a loaded 2-core machine; vitest's default hook timeout is 10 s.
  }, 120_000);

  /** Did `to` arrive at `node` (directly, or through a transient node's eventless exits)? */
  const arrives = (node: AnyStateNode, to: WorkloadSnapshot, depth = 0): boolean =>
    active(to).some((n) => n.id === node.id) ||
    (node.type === 'history' && !!node.parent && active(to).some((n) => n.id === node.parent!.id)) || (depth < 3 && node.always !== undefined && node.always.some((t) => (t.target ?? []).some((x) => arrives(x, to, depth + 1))));
  // Transient states (left at once by eventless transitions) are never at rest in a snapshot.
  const transient = (node: AnyStateNode) => !!node.always?.some((t) => !t.guard) && Object.keys(node.config.on ?? {}).length === 0;

  it('reaches every state node', () => {
    const missing = nodes.filter((n) => !reached.has(n.stateNode.id) && !(transient(n.stateNode) && edges.some((e) => arrives(n.stateNode, e.to))));
    expect(missing.map((n) => n.stateNode.id)).toEqual([]);
    expect(reached.size).toBeGreaterThan(20);
  });

  it('takes every transition the machine defines', () => {
    const untaken: string[] = [];
    for (const n of nodes) {
      for (const e of n.edges) {
        const t = e.transition;
        const eventType = t.eventType;
        const targets = t.target ?? [];
        const taken = edges.some(
          (x) =>
            (eventType === '' || x.type === eventType) &&
            (eventType === '' || active(x.from).some((a) => a.id === t.source.id)) &&
            (targets.length === 0 || targets.every((tg) => arrives(tg, x.to))),
        );
        if (!taken) untaken.push(`${t.source.id} --${eventType || 'always'}--> ${targets.map((x) => x.id).join(',') || '(self)'}`);
      }
    }
    expect(untaken).toEqual([]);
  });
});
