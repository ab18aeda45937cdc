import type { EventStore, StoredEvent } from '@drc/event-store';
import type { WorkloadView } from '@drc/contracts';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Coordinator } from '../coordinator';
import { requireRole, type AuthVariables } from './auth';

/** Pure. The SSE data of one stored workload event. */
export function streamedEvent(e: StoredEvent) {
  return {
    stream: e.stream,
    ...(e.stream.startsWith('workload-') ? { workloadId: e.stream.slice('workload-'.length) } : {}),
    position: e.position,
    type: e.type,
    data: e.data,
    ...(e.metadata.stateAfter !== undefined ? { stateAfter: e.metadata.stateAfter } : {}),
    recordedAt: e.recordedAt.toISOString(),
  };
}

/**
 * GET /api/v1/stream: a live feed as Server-Sent Events.
 * - `event: stored`, id = the event store checkpoint: every event appended to a workload stream,
 *   in global order. Reconnecting with `Last-Event-ID` (browsers do it by themselves) resumes
 *   right after it; without one, the feed starts at the present (`?from=start` replays all).
 * - `event: workload`: a workload's view after it changed (no id: views are not resumable).
 * - `event: sites`: every site's view, at connect and every few seconds.
 * Not pure: holds a store subscription per client, stopped when the client goes away.
 */
export function createStreamRoutes(coordinator: Coordinator, store: EventStore, sitesEveryMs = 2000): Hono<{ Variables: AuthVariables }> {
  const app = new Hono<{ Variables: AuthVariables }>();
  app.get('/stream', requireRole('viewer'), (c) => {
    const lastEventId = c.req.header('last-event-id') ?? c.req.query('lastEventId');
    const fromStart = c.req.query('from') === 'start';
    return streamSSE(c, async (sse) => {
      let closed = false;
      const queue: Array<{ event: string; data: string; id?: string }> = [];
      let wake: (() => void) | undefined;
      const push = (m: { event: string; data: string; id?: string }) => {
        queue.push(m);
        wake?.();
      };
      // Start from the present unless the client resumes: find the newest checkpoint.
      let after = lastEventId;
      if (after === undefined && !fromStart) after = await latestCheckpoint(store);
      const sub = store.subscribeAll({
        streamPrefix: 'workload-',
        ...(after !== undefined ? { after } : {}),
        onEvents: (events) => {
          for (const e of events) push({ event: 'stored', id: e.checkpoint, data: JSON.stringify(streamedEvent(e)) });
        },
        onError: () => push({ event: 'error', data: JSON.stringify({ message: 'event store subscription failed' }) }),
      });
      const off = coordinator.onChange((view: WorkloadView) => push({ event: 'workload', data: JSON.stringify(view) }));
      const sites = () => push({ event: 'sites', data: JSON.stringify({ sites: coordinator.siteViews() }) });
      sites();
      const timer = setInterval(sites, sitesEveryMs);
      sse.onAbort(() => {
        closed = true;
        wake?.();
      });
      try {
        await sse.writeSSE({ event: 'hello', data: JSON.stringify({ coordinatorId: coordinator.id, leader: coordinator.isLeader }), retry: 2000 });
        while (!closed) {
          const m = queue.shift();
          if (m) {
            await sse.writeSSE(m);
            continue;
          }
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 15_000).unref();
          });
          wake = undefined;
          // A comment keeps proxies from closing an idle connection.
          if (queue.length === 0 && !closed) await sse.write(': keep-alive\n\n');
        }
      } finally {
        clearInterval(timer);
        off();
        await sub.stop();
      }
    });
  });
  return app;
}

/** Not pure. The checkpoint of the newest workload event (undefined: the store is empty). */
async function latestCheckpoint(store: EventStore): Promise<string | undefined> {
  let after: string | undefined;
  for (;;) {
    const batch = await store.readAll({ streamPrefix: 'workload-', maxCount: 1000, ...(after !== undefined ? { after } : {}) });
    if (batch.length === 0) return after;
    after = batch[batch.length - 1]!.checkpoint;
  }
}
