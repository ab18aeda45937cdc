import type { NotificationEvent, NotificationsConfig } from '@drc/contracts';
import type { Logger } from '@drc/runtime';

/**
 * Not pure. Tells operators' systems (chat, paging, ticketing) when a failover starts and ends,
 * when an approval is needed and when a plan run starts and ends: a JSON POST to each webhook
 * subscribed to the event. Best effort, never in the way of a failover: sent after the decision
 * is recorded, bounded by a timeout, failures logged.
 */
export class Notifier {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly config: NotificationsConfig,
    private readonly logger: Logger,
    private readonly coordinatorId: string,
  ) {}

  notify(event: NotificationEvent, payload: Record<string, unknown>, at = Date.now()): void {
    for (const hook of this.config.webhooks) {
      if (hook.events && !hook.events.includes(event)) continue;
      const p = fetch(hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'drc.notification', event, at: new Date(at).toISOString(), coordinatorId: this.coordinatorId, ...payload }),
        signal: AbortSignal.timeout(hook.timeoutMs),
      })
        .then((res) => {
          if (!res.ok) this.logger.warn({ url: hook.url, event, status: res.status }, 'notification webhook refused');
        })
        .catch((e: unknown) => this.logger.warn({ url: hook.url, event, err: e }, 'notification webhook failed'))
        .finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  /** Resolves when every notification sent so far has been answered or timed out. */
  async flush(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}
