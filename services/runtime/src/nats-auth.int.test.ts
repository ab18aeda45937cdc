import { freePort, startProcess, type ManagedProcess } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, natsAuthFromEnv } from './nats';

/** A private nats-server with a user and password: credentials reach the server, refusals are named as such. */
describe('NATS credentials', () => {
  let server: ManagedProcess;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `nats://127.0.0.1:${port}`;
    server = startProcess({ name: 'nats-auth', command: 'nats-server', args: ['-a', '127.0.0.1', '-p', String(port), '--user', 'agent-fra', '--pass', 's3cret'] });
    await server.waitFor(/Server is ready/, 10_000);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('reads credentials from the environment, never from flags', () => {
    expect(natsAuthFromEnv({ NATS_USER: 'u', NATS_PASSWORD: 'p', NATS_CA: '/etc/ca.pem' })).toEqual({ user: 'u', pass: 'p', tls: { caFile: '/etc/ca.pem' } });
    expect(natsAuthFromEnv({})).toEqual({});
  });

  it('connects with the right password and names a refusal as a credentials problem, not an outage', async () => {
    const nc = await connectNats({ url, name: 'auth-ok', ...natsAuthFromEnv({ NATS_USER: 'agent-fra', NATS_PASSWORD: 's3cret' }) });
    await nc.flush();
    await nc.close();
    await expect(connectNats({ url, name: 'auth-bad', user: 'agent-fra', pass: 'wrong' })).rejects.toThrow(/refused our credentials/);
  });
});
