import { afterAll, describe, expect, it } from 'vitest';
import { startPostgresServer, stopAllPostgresServers } from './pg-server';

describe('test kit - a private PostgreSQL server run as an unprivileged user', () => {
  afterAll(() => stopAllPostgresServers());

  it('starts, answers SQL, stops, and restarts with its data', async () => {
    const pg = await startPostgresServer({ label: 'kit' });
    await pg.sql('CREATE TABLE t (v int); INSERT INTO t VALUES (42)');
    pg.restart();
    expect(await pg.sql<{ v: number }>('SELECT v FROM t')).toEqual([{ v: 42 }]);
    pg.kill9();
    expect(pg.isRunning()).toBe(false);
    pg.start();
    expect((await pg.sql<{ v: number }>('SELECT v FROM t'))[0]?.v).toBe(42);
    pg.destroy();
  });
});
