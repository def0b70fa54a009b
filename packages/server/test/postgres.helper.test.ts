// The PostgreSQL test helpers against a real server: scratch databases on the shared one (test/global-postgres.ts), and
// a private server for stop/start and crash, which the shared one must not suffer.
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createScratchDatabase, dropScratchDatabase, redactUrl, startPostgres, type PgServer } from './helpers/postgres.ts';

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('scratch databases', () => {
  it('are usable, isolated from each other, and dropped', async () => {
    const [a, b] = await Promise.all([createScratchDatabase(), createScratchDatabase()]);
    expect(new URL(a).pathname).toMatch(/^\/tether_t_[0-9a-f]+$/);
    expect(a).not.toBe(b);

    await query(a, 'CREATE TABLE t (v text)');
    await query(a, 'INSERT INTO t VALUES ($1), ($2)', ['x', 'y']);
    expect(await query(a, 'SELECT v FROM t ORDER BY v')).toEqual([{ v: 'x' }, { v: 'y' }]);
    // The same table name in the other database is another table.
    await query(b, 'CREATE TABLE t (v text)');
    expect(await query(b, 'SELECT v FROM t')).toEqual([]);

    // A connection still open does not block the drop (WITH (FORCE)).
    const open = new pg.Client({ connectionString: a });
    open.on('error', () => undefined);
    await open.connect();
    await Promise.all([dropScratchDatabase(a), dropScratchDatabase(b)]);
    await open.end().catch(() => undefined);
    const names = (await query<{ datname: string }>(inject('pgAdminUrl'), 'SELECT datname FROM pg_database')).map((r) => r.datname);
    expect(names).not.toContain(new URL(a).pathname.slice(1));
    expect(names).not.toContain(new URL(b).pathname.slice(1));
  });

  it('refuses to drop a database it did not make', async () => {
    await expect(dropScratchDatabase(inject('pgAdminUrl'))).rejects.toThrow(/not a scratch database/);
  });

  it('redactUrl drops the password', () => {
    expect(redactUrl('postgres://postgres:s3cret@127.0.0.1:5432/db')).toBe('postgres://postgres@127.0.0.1:5432/db');
    expect(new URL(redactUrl(inject('pgAdminUrl'))).password).toBe('');
  });
});

describe('startPostgres', () => {
  let server: PgServer | undefined;
  afterAll(() => server?.destroy());

  it('keeps data across stop/start, and serves again with the committed data after kill()', async () => {
    server = await startPostgres();
    const url = await createScratchDatabase(server.adminUrl);
    await query(url, 'CREATE TABLE t (v int)');
    await query(url, 'INSERT INTO t VALUES (1)');

    await server.stop();
    await expect(query(url, 'SELECT 1')).rejects.toThrow();
    await server.start();
    expect(await query(url, 'SELECT v FROM t')).toEqual([{ v: 1 }]);

    const client = new pg.Client({ connectionString: url });
    const clientErrors: Error[] = [];
    client.on('error', (e) => clientErrors.push(e));
    await client.connect();
    await client.query('INSERT INTO t VALUES (2)');
    await server.kill();
    await expect(client.query('SELECT 1')).rejects.toThrow();
    await client.end().catch(() => undefined);

    await server.start();
    expect(await query(url, 'SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 2 }]);
    await dropScratchDatabase(url);
  });
});
