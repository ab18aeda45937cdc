import { eventHash, GENESIS_HASH } from './hash';
import type { EventStore } from './port';

export interface AuditReport {
  streamsChecked: number;
  eventsChecked: number;
  broken: Array<{ stream: string; position: number; reason: string }>;
}

/**
 * Recomputes the hash chain of every stream (or one) and names each broken link: an event
 * whose bytes changed, a missing or reordered event, or a chain that does not continue.
 * Reads only; never throws for tampered data (it reports it).
 */
export async function verifyAudit(store: EventStore, opts: { stream?: string; pageSize?: number } = {}): Promise<AuditReport> {
  const streams = opts.stream ? [opts.stream] : await store.listStreams();
  const report: AuditReport = { streamsChecked: 0, eventsChecked: 0, broken: [] };
  const page = opts.pageSize ?? 5000;
  for (const stream of streams) {
    report.streamsChecked++;
    let prev = GENESIS_HASH;
    let expectedPosition = 1;
    for (let from = 1; ; ) {
      const events = await store.readStream(stream, { fromPosition: from, maxCount: page });
      for (const e of events) {
        report.eventsChecked++;
        if (e.position !== expectedPosition) {
          report.broken.push({ stream, position: e.position, reason: `expected position ${expectedPosition}` });
        }
        if (e.prevHash !== prev) {
          report.broken.push({ stream, position: e.position, reason: 'previous-hash link does not match the event before it' });
        }
        const recomputed = eventHash(e.prevHash, { stream, position: e.position, type: e.type, data: e.data, metadata: e.metadata });
        if (recomputed !== e.hash) {
          report.broken.push({ stream, position: e.position, reason: 'content does not match its hash (the event was altered)' });
        }
        prev = e.hash;
        expectedPosition = e.position + 1;
      }
      if (events.length < page) break;
      from = events[events.length - 1]!.position + 1;
    }
  }
  return report;
}
