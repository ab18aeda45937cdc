import { createLogger } from '@drc/runtime';
import { libvirtInstalled, startLibvirtSession, type LibvirtSession } from '@drc/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDriverContract } from '../../testing/index';
import { isDriverError, type ActionContext } from '../driver';
import { driverFactory } from '../registry';
import { createLibvirtDriver } from './libvirt-driver';

/**
 * The libvirt driver against real virsh and a real libvirtd: a session daemon run as an
 * unprivileged user serving libvirt's built-in test driver, so domain state persists between
 * virsh calls (see startLibvirtSession). Each test gets its own uniquely named domain. Without
 * virsh and libvirtd, the tests that need them are skipped with the reason printed, except in CI
 * (CI=true: .ci/run installs libvirt), where every one of them fails instead.
 */
const skipLibvirt = !libvirtInstalled() && !process.env.CI;
if (skipLibvirt) console.warn('[libvirt driver] skipped: virsh and libvirtd are not installed (apt-get install --no-install-recommends libvirt-clients libvirt-daemon; .ci/run does)');
const logger = createLogger('libvirt-test').child({}, { level: 'silent' });
let started: LibvirtSession | undefined;
let notStarted: unknown;
beforeAll(async () => {
  if (skipLibvirt) return;
  // Not thrown here (vitest would count every test as skipped): each test fails with the reason.
  started = await startLibvirtSession('driver').catch((e: unknown) => void (notStarted = e));
});
afterAll(async () => {
  await started?.stop();
});
/** The session, or the reason it did not start (e.g. virsh not installed) as this test's failure. */
const lv = (): LibvirtSession => {
  if (!started) throw notStarted instanceof Error ? notStarted : new Error(`libvirt session did not start: ${String(notStarted)}`);
  return started;
};

let n = 0;
const ctx = (over: Partial<ActionContext> = {}): ActionContext => ({ commandId: `c${++n}`, epoch: 3, deadline: Date.now() + 30_000, signal: new AbortController().signal, ...over });
const make = (settings: Record<string, unknown>, configuredRole: 'primary' | 'replica' = 'primary') =>
  createLibvirtDriver({ workloadId: 'erp-vm', siteId: configuredRole === 'primary' ? 'A' : 'B', configuredRole, settings, peers: [], logger });
const driverFor = (domain: string, configuredRole: 'primary' | 'replica' = 'primary') => make({ uri: lv().uri, domain, timeoutMs: 15_000 }, configuredRole);
/** The domain's state as a second, independent virsh call sees it. */
const stateOf = async (domain: string) => (await lv().virsh('domstate', domain)).trim();
const removeDomain = async (domain: string) => {
  await lv().virsh('destroy', domain).catch(() => undefined);
  await lv().virsh('undefine', domain, '--snapshots-metadata').catch(() => undefined);
};

describe.skipIf(skipLibvirt)('libvirt driver with real virsh and libvirtd', () => {
  it('promote/start, fence/stop, quiesce and unfence change the real domain state', async () => {
    const dom = await lv().defineDomain('life', { start: false });
    const d = await driverFor(dom);
    expect(await stateOf(dom)).toBe('shut off');

    expect((await d.execute('start', {}, ctx())).detail).toMatchObject({ state: 'running', changed: true, ran: 'start' });
    expect(await stateOf(dom)).toBe('running');
    expect(await d.probe()).toEqual({ role: 'primary', healthy: true });

    expect((await d.execute('quiesce', {}, ctx())).detail).toMatchObject({ state: 'paused', changed: true, ran: 'suspend' });
    expect(await stateOf(dom)).toBe('paused');
    expect(await d.probe()).toMatchObject({ role: 'fenced', healthy: false, detail: 'paused (user): not serving' });

    expect((await d.execute('unfence', {}, ctx())).detail).toMatchObject({ state: 'running', ran: 'resume' });
    expect(await stateOf(dom)).toBe('running');

    expect((await d.execute('fence', {}, ctx())).detail).toMatchObject({ state: 'shut off', changed: true, ran: 'destroy' });
    expect(await stateOf(dom)).toBe('shut off');
    expect(await d.probe()).toMatchObject({ role: 'stopped', healthy: false, detail: 'shut off (destroyed)' });

    expect((await d.execute('promote', {}, ctx())).detail).toMatchObject({ state: 'running', ran: 'start' });
    expect(await stateOf(dom)).toBe('running');
    expect((await d.execute('stop', {}, ctx())).detail).toMatchObject({ state: 'shut off', ran: 'destroy' });
    expect(await stateOf(dom)).toBe('shut off');

    // libvirt itself saw each change (lifecycle events on the session's keeper connection).
    const events = lv().events().split('\n').filter((l) => l.includes(`'${dom}'`)).map((l) => l.replace(/.*': /, ''));
    expect(events).toEqual(['Defined Added', 'Started Booted', 'Suspended Paused', 'Resumed Unpaused', 'Stopped Destroyed', 'Started Booted', 'Stopped Destroyed']);
    await removeDomain(dom);
  });

  it('a fence of a domain that is already off succeeds without touching it; so does a start of a running one', async () => {
    const dom = await lv().defineDomain('off', { start: false });
    const d = await driverFor(dom);
    expect((await d.execute('fence', {}, ctx())).detail).toEqual({ domain: dom, state: 'shut off', changed: false });
    expect((await d.execute('fence', {}, ctx())).detail).toEqual({ domain: dom, state: 'shut off', changed: false });
    expect(await stateOf(dom)).toBe('shut off');
    await lv().virsh('start', dom);
    expect((await d.execute('promote', {}, ctx())).detail).toEqual({ domain: dom, state: 'running', changed: false });
    await removeDomain(dom);
  });

  it('snapshot creates a real snapshot named by params.name, once; without a name, one per command id', async () => {
    const dom = await lv().defineDomain('snap');
    const d = await driverFor(dom);
    expect((await d.execute('snapshot', { name: 'before-failover' }, ctx())).detail).toEqual({ domain: dom, snapshot: 'before-failover', created: true });
    expect((await d.execute('snapshot', { name: 'before-failover' }, ctx())).detail).toEqual({ domain: dom, snapshot: 'before-failover', created: false });
    await d.execute('snapshot', {}, ctx({ commandId: 'erp-vm/7/snapshot/0' }));
    expect((await lv().virsh('snapshot-list', dom, '--name')).split('\n').sort()).toEqual(['before-failover', 'drc-erp-vm-7-snapshot-0']);
    expect(await lv().virsh('snapshot-info', dom, 'before-failover')).toMatch(/State:\s+running/);
    await expect(d.execute('snapshot', { name: '../etc' }, ctx())).rejects.toThrow(/snapshot: params\.name/);
    await removeDomain(dom);
  });

  it('probe: a shut-off copy at a replica site is a healthy standby; a running one there is reported as primary', async () => {
    const dom = await lv().defineDomain('replica', { start: false });
    const d = await driverFor(dom, 'replica');
    expect(await d.probe()).toMatchObject({ role: 'replica', healthy: true, detail: 'standby copy: shut off (unknown)' });
    await lv().virsh('start', dom);
    expect(await d.probe()).toEqual({ role: 'primary', healthy: true, detail: 'running at replica site B' });
    await removeDomain(dom);
  });

  it('a domain that does not exist: actions fail with a DriverError naming it, and the probe says so', async () => {
    const d = await driverFor('no-such-vm');
    const e = await d.execute('fence', {}, ctx()).catch((x: unknown) => x);
    expect(isDriverError(e), String(e)).toBe(true);
    expect((e as Error).message).toBe("fence of domain no-such-vm: failed to get domain 'no-such-vm'");
    expect(await d.probe()).toEqual({ role: 'unknown', healthy: false, detail: "domain no-such-vm: failed to get domain 'no-such-vm'" });
  });

  it('an unreachable daemon or a missing virsh is an unhealthy probe, not a throw', async () => {
    const gone = await make({ uri: `test+unix:///default?socket=${lv().root}/nowhere.sock`, domain: 'x', timeoutMs: 5000 });
    expect(await gone.probe()).toMatchObject({ role: 'unknown', healthy: false, detail: expect.stringMatching(/^domain x: failed to connect to the hypervisor/) });
    const noVirsh = await make({ uri: lv().uri, domain: 'x', virshPath: '/nonexistent/virsh' });
    expect(await noVirsh.probe()).toMatchObject({ role: 'unknown', healthy: false, detail: 'domain x: /nonexistent/virsh not found (install libvirt-clients)' });
  });

  it('does nothing when the command was aborted, and refuses what a VM cannot do', async () => {
    const dom = await lv().defineDomain('abort');
    const d = await driverFor(dom);
    const ac = new AbortController();
    ac.abort();
    await expect(d.execute('fence', {}, ctx({ signal: ac.signal }))).rejects.toThrow('fence: deadline passed before it started');
    expect(await stateOf(dom)).toBe('running');
    await expect(d.execute('reprotect', { upstreamSite: 'B' }, ctx())).rejects.toThrow('unsupported: the libvirt driver cannot reprotect a VM');
    await removeDomain(dom);
  });
});

describe('libvirt driver without a daemon', () => {
  it('the agent finds it as driver type libvirt', async () => {
    expect(await driverFactory('libvirt')).toBe(createLibvirtDriver);
  });

  it('rejects bad settings naming the field', async () => {
    await expect(make({ domain: 'vm1' })).rejects.toThrow(/^workload erp-vm: driver\.settings\.uri: /);
    await expect(make({ uri: 'not a uri', domain: 'vm1' })).rejects.toThrow('driver.settings.uri: expected a libvirt URI such as qemu:///system');
    await expect(make({ uri: 'test:///default', domain: '' })).rejects.toThrow(/driver\.settings\.domain/);
    await expect(make({ uri: 'test:///default', domain: 'vm1', timeoutMs: -5 })).rejects.toThrow(/driver\.settings\.timeoutMs/);
    await expect(make({ uri: 'test:///default', domain: 'vm1', hypervisor: 'kvm' })).rejects.toThrow(/driver\.settings\.\(root\): .*hypervisor/);
  });
});

if (!skipLibvirt) describeDriverContract('libvirt', async () => {
  const dom = await lv().defineDomain('contract');
  return { driver: await driverFor(dom), idempotent: ['fence', 'promote', 'quiesce', 'unfence', 'snapshot', 'stop', 'start'], cleanup: () => removeDomain(dom) };
});
