import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, freePort } from './process';
import { pgOwnedTempDir, runAsPg, startPostgresServer, type PostgresServer } from './pg-server';

export interface PostgresPair {
  primary: PostgresServer;
  standby: PostgresServer;
  /** The replication slot on the primary that the standby streams through. */
  slot: string;
  /** Per-node settings a rewound or re-cloned node must get back (pg_rewind copies the source's config). */
  localConf(node: PostgresServer): Record<string, string>;
  stop(): void;
}

/** The settings that differ per node of a pair (port and private socket directory). */
export function nodeLocalConf(node: PostgresServer): Record<string, string> {
  return { port: String(node.port), unix_socket_directories: `'${node.socketDir}'` };
}

/**
 * Not pure. A real PostgreSQL 15 primary with a streaming standby on loopback, both run as the
 * unprivileged test user: `initdb --data-checksums`, `wal_level=replica`, `wal_log_hints=on`,
 * a physical replication slot, `pg_basebackup -R -X stream -S SLOT`. Resolves once the standby
 * streams. `stop()` stops and removes both.
 */
export async function startPostgresPair(label = 'pair'): Promise<PostgresPair> {
  // synchronous_commit on (PostgreSQL's default): every commit flushes WAL, which is what the
  // WAL sender streams; the private-server default (off) left the standby behind here.
  // track_commit_timestamp: the split-brain watcher dates each test write by its commit.
  const replication = { synchronous_commit: 'on', track_commit_timestamp: 'on', wal_level: 'replica', wal_log_hints: 'on', max_wal_senders: '10', max_replication_slots: '10', hot_standby: 'on', wal_keep_size: "'64MB'" };
  const primary = await startPostgresServer({ label: `${label}-p`, settings: replication });
  const slot = `${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_standby`;
  await primary.sql(`SELECT pg_create_physical_replication_slot('${slot}')`);
  const dir = pgOwnedTempDir(`${label}-s`);
  const dataDir = join(dir, 'data');
  runAsPg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-X', 'stream', '-S', slot, '-R', '-c', 'fast', '--no-sync']);
  const port = await freePort();
  const standby = await startPostgresServer({ label: `${label}-s`, dataDir, skipInit: true, noStart: true, port });
  // The clone carries the primary's port and socket dir: give the standby its own (auto.conf wins).
  appendFileSync(join(dataDir, 'postgresql.auto.conf'), `${Object.entries(nodeLocalConf(standby)).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  standby.start();
  await eventually(async () => (await standby.sql<{ status: string }>('SELECT status FROM pg_stat_wal_receiver'))[0]?.status === 'streaming', 30_000, 100);
  return {
    primary,
    standby,
    slot,
    localConf: nodeLocalConf,
    stop() {
      standby.destroy();
      primary.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
