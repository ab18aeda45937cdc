import type { NotificationEvent, NotificationsConfig } from '@drc/contracts';
import type { Logger } from '@drc/runtime';
import { createTransport, type Transporter } from 'nodemailer';

const SUBJECTS: Record<NotificationEvent, (p: Record<string, unknown>) => string> = {
  'failover.started': (p) => `failover of ${String(p.workloadId)} started (from ${String(p.fromSite)})`,
  'failover.completed': (p) => `failover of ${String(p.workloadId)} completed: ${String(p.fromSite)} → ${String(p.toSite)}`,
  'approval.required': (p) => `approval required: ${String(p.workloadId ?? `plan run ${String(p.runId)} step ${String(p.stepId)}`)}`,
  'plan.started': (p) => `recovery plan ${String(p.plan)} started (${String(p.mode)})`,
  'plan.finished': (p) => `recovery plan ${String(p.plan)} finished: ${String(p.result)}`,
  'primary.rogue': (p) => `two primaries: ${String(p.siteId)} reports ${String(p.workloadId)} writable at epoch ${String(p.epoch)}; fencing it`,
};

/**
 * Not pure. Tells operators' systems (chat, paging, ticketing, e-mail) when a failover starts and
 * ends, when an approval is needed and when a plan run starts and ends: a JSON POST to each
 * webhook subscribed to the event, and a mail through the SMTP relay when one is configured.
 * Best effort, never in the way of a failover: sent after the decision is recorded, bounded by
 * a timeout, failures logged.
 */
export class Notifier {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly mail?: Transporter;

  constructor(
    private readonly config: NotificationsConfig,
    private readonly logger: Logger,
    private readonly coordinatorId: string,
    /** The time a notification is dated with when the caller gives none (the core's clock). */
    private readonly now: () => number = () => Date.now(),
  ) {
    const smtp = config.smtp;
    if (smtp) {
      const pass = smtp.passwordEnv ? process.env[smtp.passwordEnv] : undefined;
      this.mail = createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.secure,
        ...(smtp.user ? { auth: { user: smtp.user, pass: pass ?? '' } } : {}),
        connectionTimeout: smtp.timeoutMs,
        greetingTimeout: smtp.timeoutMs,
        socketTimeout: smtp.timeoutMs,
      });
    }
  }

  notify(event: NotificationEvent, payload: Record<string, unknown>, at = this.now()): void {
    const body = { kind: 'drc.notification', event, at: new Date(at).toISOString(), coordinatorId: this.coordinatorId, ...payload };
    for (const hook of this.config.webhooks) {
      if (hook.events && !hook.events.includes(event)) continue;
      this.track(
        fetch(hook.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(hook.timeoutMs) }).then((res) => {
          if (!res.ok) this.logger.warn({ url: hook.url, event, status: res.status }, 'notification webhook refused');
        }),
        { url: hook.url, event },
      );
    }
    const smtp = this.config.smtp;
    if (this.mail && smtp && (!smtp.events || smtp.events.includes(event))) {
      const subject = `[drc] ${SUBJECTS[event](payload)}`;
      const text = `${subject}\n\n${Object.entries(body).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n')}\n`;
      this.track(this.mail.sendMail({ from: smtp.from, to: smtp.to, subject, text }).then(() => undefined), { smtp: smtp.host, event });
    }
  }

  private track(p: Promise<void>, what: Record<string, unknown>): void {
    const q = p.catch((e: unknown) => this.logger.warn({ ...what, err: e }, 'notification failed')).finally(() => this.inFlight.delete(q));
    this.inFlight.add(q);
  }

  /** Resolves when every notification sent so far has been answered or timed out. */
  async flush(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}
