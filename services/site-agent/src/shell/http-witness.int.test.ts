import { createLogger } from '@drc/runtime';
import { createTcpProxy, freePort } from '@drc/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { parseListen, parseWitnessPeers, Witness } from './http-witness';

const logger = createLogger('witness-test').child({}, { level: 'silent' });
const started: Array<{ stop(): Promise<void> } | { close(): Promise<void> }> = [];
afterEach(async () => {
  for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
});

describe('witness probes (agent to agent, not through NATS)', () => {
  it('hears a peer that answers as itself, and stops hearing it when the link is cut', async () => {
    const port = await freePort();
    const ams = new Witness({ siteId: 'ams', agentId: 'ams@h', listen: { host: '127.0.0.1', port }, peers: {}, timeoutMs: 500, logger });
    await ams.start();
    const link = await createTcpProxy({ targetPort: port });
    started.push(ams, link);
    const fra = new Witness({ siteId: 'fra', agentId: 'fra@h', peers: { ams: `http://127.0.0.1:${link.port}` }, timeoutMs: 500, logger });
    const heard: string[] = [];
    await fra.probeAll((s) => heard.push(s));
    expect(heard).toEqual(['ams']);
    link.cut();
    await fra.probeAll((s) => heard.push(s));
    expect(heard).toEqual(['ams']);
  });

  it('does not count an endpoint that answers as another site', async () => {
    const port = await freePort();
    const dub = new Witness({ siteId: 'dub', agentId: 'dub@h', listen: { host: '127.0.0.1', port }, peers: {}, timeoutMs: 500, logger });
    await dub.start();
    started.push(dub);
    // Misconfigured: fra thinks ams lives where dub's agent answers.
    const fra = new Witness({ siteId: 'fra', agentId: 'fra@h', peers: { ams: `http://127.0.0.1:${port}` }, timeoutMs: 500, logger });
    const heard: string[] = [];
    await fra.probeAll((s) => heard.push(s));
    expect(heard).toEqual([]);
  });

  it('rejects bad flags naming the entry', () => {
    expect(parseWitnessPeers(['ams=http://10.0.0.5:7811/'])).toEqual({ ams: 'http://10.0.0.5:7811' });
    expect(() => parseWitnessPeers(['ams'])).toThrow(/--witness-peer "ams": expected SITE=URL/);
    expect(() => parseWitnessPeers(['ams=not a url'])).toThrow(/--witness-peer "ams=not a url"/);
    expect(parseListen('7811')).toEqual({ host: '0.0.0.0', port: 7811 });
    expect(parseListen('127.0.0.1:7811')).toEqual({ host: '127.0.0.1', port: 7811 });
    expect(() => parseListen('x:99999')).toThrow(/--witness-listen/);
  });
});
