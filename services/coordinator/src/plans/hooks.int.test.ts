import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HookSchema, NotificationsSchema } from '@drc/contracts';
import { createLogger } from '@drc/runtime';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHook } from './hooks';
import { Notifier } from './notifier';

const logger = createLogger('hooks-test').child({}, { level: 'silent' });
const ctx = { plan: 'p', run: 'r1', step: 't1.before.1', mode: 'failover', workload: 'db1', attempt: '0' };
const never = new AbortController().signal;

describe('plan hooks: real processes and a real HTTP endpoint', () => {
  let server: Server;
  let base: string;
  const received: Array<{ path: string; body: Record<string, unknown> }> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body: JSON.parse(body || '{}') as Record<string, unknown> });
        if (req.url === '/fail') res.writeHead(500).end('no');
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"dns":"switched"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('a command gets the context as DRC_* environment; JSON on stdout becomes the output', async () => {
    const hook = HookSchema.parse({ command: ['sh', '-c', 'printf \'{"step":"%s","workload":"%s","attempt":"%s"}\' "$DRC_STEP" "$DRC_WORKLOAD" "$DRC_ATTEMPT"'] });
    expect(await runHook(hook, ctx, never)).toEqual({ ok: true, output: { step: 't1.before.1', workload: 'db1', attempt: '0' } });
  });

  it('a non-zero exit fails the step with the exit code and the stderr tail', async () => {
    const o = await runHook(HookSchema.parse({ command: ['sh', '-c', 'echo "LUN 7 busy" >&2; exit 3'] }), ctx, never);
    expect(o.ok).toBe(false);
    expect(o.reason).toBe('sh exited with 3: LUN 7 busy');
  });

  it('a hook past its timeout is killed with everything it started', async () => {
    const o = await runHook(HookSchema.parse({ command: ['sh', '-c', 'sleep 30 & sleep 30'], timeoutMs: 300 }), ctx, never);
    expect(o).toMatchObject({ ok: false, reason: 'timed out after 300 ms (killed)' });
  });

  it('a missing program is a clear failure, not a crash', async () => {
    const o = await runHook(HookSchema.parse({ command: ['/nonexistent/remap-luns'] }), ctx, never);
    expect(o.ok).toBe(false);
    expect(o.reason).toMatch(/cannot run \/nonexistent\/remap-luns/);
  });

  it('a webhook gets the context as JSON; its JSON answer is the output; a 500 fails the step', async () => {
    expect(await runHook(HookSchema.parse({ url: `${base}/ok` }), ctx, never)).toEqual({ ok: true, output: { dns: 'switched' } });
    expect(received.at(-1)?.body).toMatchObject({ kind: 'drc.plan.hook', step: 't1.before.1', workload: 'db1' });
    expect(await runHook(HookSchema.parse({ url: `${base}/fail` }), ctx, never)).toMatchObject({ ok: false, reason: 'webhook answered 500' });
  });

  it('notifications go only to the webhooks subscribed to the event', async () => {
    received.length = 0;
    const n = new Notifier(NotificationsSchema.parse({ webhooks: [{ url: `${base}/all` }, { url: `${base}/plans`, events: ['plan.finished'] }] }), logger, 'c1');
    n.notify('failover.started', { workloadId: 'db1' });
    n.notify('plan.finished', { runId: 'r1', result: 'SUCCESS' });
    await n.flush();
    expect(received.map((r) => `${r.path} ${String(r.body.event)}`).sort()).toEqual(['/all failover.started', '/all plan.finished', '/plans plan.finished']);
    expect(received.find((r) => r.path === '/plans')?.body).toMatchObject({ kind: 'drc.notification', coordinatorId: 'c1', runId: 'r1', result: 'SUCCESS' });
  });
});

describe('e-mail notifications through an SMTP relay (smtp-server, a real SMTP implementation)', () => {
  it('mails the subscribed events to every recipient, naming the event in the subject', async () => {
    const mails: Array<{ from: string; to: string[]; data: string }> = [];
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, session, cb) {
        let data = '';
        stream.on('data', (d: Buffer) => (data += d.toString()));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), data });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    const port = (smtp.server.address() as AddressInfo).port;
    try {
      const n = new Notifier(NotificationsSchema.parse({ smtp: { host: '127.0.0.1', port, from: 'drc@dc.example', to: ['noc@dc.example', 'dba@dc.example'], events: ['failover.completed'] } }), logger, 'c1');
      n.notify('failover.started', { workloadId: 'db1', fromSite: 'A' }); // not subscribed
      n.notify('failover.completed', { workloadId: 'db1', fromSite: 'A', toSite: 'B', rtoMs: 4200 });
      await n.flush();
      expect(mails).toHaveLength(1);
      expect(mails[0]!.from).toBe('drc@dc.example');
      expect(mails[0]!.to).toEqual(['noc@dc.example', 'dba@dc.example']);
      expect(mails[0]!.data).toMatch(/Subject: \[drc\] failover of db1 completed: A =E2=86=92 B|Subject: =\?UTF-8\?/);
      expect(mails[0]!.data).toContain('rtoMs: 4200');
    } finally {
      await new Promise<void>((r) => smtp.close(() => r()));
    }
  });

  it('rejects a bad SMTP section naming the field', () => {
    const r = NotificationsSchema.safeParse({ smtp: { host: 'mx', from: 'not-an-address', to: [] } });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(expect.arrayContaining(['smtp.from: expected an e-mail address']));
  });
});
