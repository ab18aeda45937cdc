import type { WorkloadInput, WorkloadSetup } from '@drc/contracts';
import { decideWorkload, startWorkload, stateOf, viewWorkload } from '@drc/statecharts';
import type { HistoryEvent } from './fold';
import { eventsForStep, registrationEvent, type Writer } from './record';

/**
 * Not pure (random ids). Records a workload stream exactly as the coordinator's runner does,
 * without a store: for tests and benchmarks of replay, history and what-if.
 */
export function recordStream(setup: WorkloadSetup, inputs: ReadonlyArray<WorkloadInput>, writer: Writer = { coordinatorId: 'test', leaderEpoch: 1 }): HistoryEvent[] {
  const stream = `workload-${setup.workloadId}`;
  const start = startWorkload(setup);
  const out: HistoryEvent[] = [];
  const push = (e: { type: string; data: unknown; metadata: HistoryEvent['metadata'] }) => out.push({ stream, position: out.length + 1, type: e.type, data: e.data, metadata: e.metadata });
  push(registrationEvent(writer, setup, stateOf(start.snapshot)));
  let snapshot = start.snapshot;
  for (const input of inputs) {
    const before = stateOf(snapshot);
    const step = decideWorkload(snapshot, input);
    snapshot = step.snapshot;
    const view = viewWorkload(snapshot);
    const events = eventsForStep({
      writer,
      origin: { actor: { kind: 'system', id: 'test' } },
      input,
      decisions: step.effects.flatMap((e) => (e.kind === 'decision' ? [e.decision] : [])),
      timers: step.effects.flatMap((e): Array<{ kind: 'schedule'; timerId: string; delayMs: number } | { kind: 'cancel'; timerId: string }> =>
        e.kind === 'schedule' ? [{ kind: 'schedule', timerId: e.timerId, delayMs: e.delayMs }] : e.kind === 'cancel' ? [{ kind: 'cancel', timerId: e.timerId }] : [],
      ),
      stateBefore: before,
      stateAfter: stateOf(snapshot),
      epoch: view.epoch,
      primarySite: view.primarySite,
    });
    for (const e of events) push(e);
  }
  return out;
}
