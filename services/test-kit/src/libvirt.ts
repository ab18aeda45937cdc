import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensurePgOsUser } from './pg-server';
import { eventually, startProcess, type ManagedProcess } from './process';
import { uniqueToken } from './unique';

const execFileP = promisify(execFile);

export const VIRSH = process.env.VIRSH ?? 'virsh';
export const LIBVIRTD = process.env.LIBVIRTD ?? '/usr/sbin/libvirtd';
/** libvirtd in session mode runs as this unprivileged OS user (tests run as root). */
export const LIBVIRT_OS_USER = process.env.LIBVIRT_TEST_OS_USER ?? 'drclv';

export interface LibvirtSession {
  /** `test+unix:///default?socket=…`: libvirt's test driver, served by this session daemon. */
  uri: string;
  socketPath: string;
  root: string;
  /** Lifecycle events the keeper connection received so far (`event 'lifecycle' for domain …`). */
  events(): string;
  /** Runs `virsh -c <uri> …args` and returns its trimmed stdout; throws with stderr on failure. */
  virsh(...args: string[]): Promise<string>;
  /** Defines a small test-driver domain with a unique name (`drc-<label>-<token>`), started unless `start: false`. */
  defineDomain(label?: string, opts?: { start?: boolean }): Promise<string>;
  /** Stops the keeper connection and libvirtd, and removes the session's files. */
  stop(): Promise<void>;
}

const sessions = new Set<LibvirtSession>();

/** True when `virsh` and `libvirtd` are installed. */
export function libvirtInstalled(): boolean {
  return spawnSync(VIRSH, ['--version']).status === 0 && existsSync(LIBVIRTD);
}

/**
 * Starts a private `libvirtd` in session mode for tests: run as an unprivileged user (session mode
 * is per user; as root it would be the system daemon) with its own XDG runtime, config and cache
 * directories, and clients connect to libvirt's built-in test driver through its socket.
 *
 * Why a keeper connection: the test driver's `test:///default` node is shared by the
 * connections open in one process and reset when the last one closes, and each `virsh` call opens
 * and closes its own. So the session also runs `virsh event --all --loop` for its whole life:
 * domain state then persists from one `virsh` call to the next (as on a real hypervisor), and the
 * lifecycle events it prints show what happened. Throws (not skips) when libvirt is not installed.
 */
export async function startLibvirtSession(label = 'lv'): Promise<LibvirtSession> {
  if (!libvirtInstalled()) throw new Error(`libvirt is not installed (need ${VIRSH} and ${LIBVIRTD}): apt-get install --no-install-recommends libvirt-clients libvirt-daemon`);
  ensurePgOsUser(LIBVIRT_OS_USER);
  const root = mkdtempSync(join(tmpdir(), `drc-libvirt-${label}-`));
  chmodSync(root, 0o755);
  const dirs = { run: join(root, 'run'), config: join(root, 'config'), cache: join(root, 'cache'), home: join(root, 'home') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  chmodSync(dirs.run, 0o700);
  spawnSync('chown', ['-R', LIBVIRT_OS_USER, root]);
  const socketPath = join(dirs.run, 'libvirt', 'libvirt-sock');
  const uri = `test+unix:///default?socket=${socketPath}`;
  const procs: ManagedProcess[] = [];
  const stopAll = async () => {
    // The keeper first; then libvirtd itself (by its pid file) rather than its runuser parent, so
    // runuser reaps it and exits: waiting for runuser is then waiting for the daemon. Whatever is
    // left after 10 s gets the process group's SIGTERM/SIGKILL.
    const [daemon, keeper] = procs;
    await keeper?.stop(3000);
    const pidFile = join(dirs.run, 'libvirt', 'libvirtd.pid');
    const daemonPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
    if (daemon && daemonPid > 0) {
      try {
        process.kill(daemonPid, 'SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([daemon.exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
        clearTimeout(timer);
      } catch {
        /* already gone */
      }
    }
    await daemon?.stop(3000);
    rmSync(root, { recursive: true, force: true });
  };
  const virsh = async (...args: string[]) => {
    try {
      const { stdout } = await execFileP(VIRSH, ['-q', '-c', uri, ...args], { timeout: 15_000, env: { ...process.env, LC_ALL: 'C' } });
      return stdout.trim();
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`virsh ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
    }
  };
  const defineDomain = async (name: string, start: boolean) => {
    const xml = join(root, `${name}.xml`);
    writeFileSync(xml, `<domain type='test'><name>${name}</name><memory unit='MiB'>8</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>\n`);
    await virsh('define', xml);
    if (start) await virsh('start', name);
  };
  try {
    const daemon = startProcess({
      name: `libvirtd-${label}`,
      command: 'runuser',
      // env -i: nothing of root's environment leaks in; XDG_* put every socket and file under root.
      args: ['-u', LIBVIRT_OS_USER, '--', 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', `HOME=${dirs.home}`, `XDG_RUNTIME_DIR=${dirs.run}`, `XDG_CONFIG_HOME=${dirs.config}`, `XDG_CACHE_HOME=${dirs.cache}`, LIBVIRTD],
      cwd: root,
    });
    procs.push(daemon);
    await eventually(async () => {
      if (daemon.child.exitCode !== null) throw new Error(`libvirtd exited: ${daemon.output().slice(-2000)}`);
      return existsSync(socketPath) && (await virsh('uri').then(() => true));
    }, 20_000, 100).catch((e: unknown) => {
      throw new Error(`libvirtd did not serve ${socketPath}: ${String(e)}\n${daemon.output().slice(-2000)}`);
    });
    const keeper = startProcess({ name: `virsh-keeper-${label}`, command: VIRSH, args: ['-c', uri, 'event', '--all', '--loop'], env: { LC_ALL: 'C' } });
    procs.push(keeper);
    // The keeper is connected once it hears a domain being defined; until then a define is lost with its connection.
    const sentinel = `drc-ready-${uniqueToken()}`;
    await eventually(async () => {
      if (!(await virsh('list', '--all', '--name')).split('\n').includes(sentinel)) await defineDomain(sentinel, false);
      return keeper.output().includes(`for domain '${sentinel}'`);
    }, 20_000, 200);
    await virsh('undefine', sentinel);
  } catch (e) {
    await stopAll();
    throw e;
  }
  const keeper = procs[1]!;
  const session: LibvirtSession = {
    uri,
    socketPath,
    root,
    events: () => keeper.output(),
    virsh,
    async defineDomain(domainLabel = 'vm', opts = {}) {
      const name = `drc-${domainLabel.replace(/[^A-Za-z0-9_-]/g, '_')}-${uniqueToken()}`;
      await defineDomain(name, opts.start ?? true);
      return name;
    },
    async stop() {
      sessions.delete(session);
      await stopAll();
    },
  };
  sessions.add(session);
  return session;
}

/** Stops every libvirt session started through this kit that is still running. */
export async function stopAllLibvirtSessions(): Promise<void> {
  await Promise.all([...sessions].map((s) => s.stop()));
}
