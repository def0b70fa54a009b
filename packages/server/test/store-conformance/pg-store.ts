/**
 * The conformance harness (harness.ts) of the PostgreSQL store: PgRunStore on a fresh scratch database per test, all
 * on one PostgreSQL server this file starts for itself (autovacuum and full-page writes off, so the WAL it writes is
 * the commits' own and the cost probe compares like with like).
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PgRunStore } from '../../src/store/pg/pg-run-store.ts';
import type { RunStore } from '../../src/store/contract.ts';
import { createScratchDatabase, dropScratchDatabase, redactUrl } from '../helpers/postgres.ts';
import type { StoreStorage } from './harness.ts';

const here = dirname(fileURLToPath(import.meta.url));
const serverDir = resolve(here, '../..');
const PG_STORE_CHILD = join(here, 'pg-store-child.ts');

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Fresh storage for one test: an empty database on the server at `adminUrl`. */
export async function pgStoreStorage(adminUrl: string): Promise<StoreStorage> {
  const url = await createScratchDatabase(adminUrl);
  const db = new URL(url).pathname.slice(1);
  const make = () => new PgRunStore({ url, nodeId: 'conformance' });
  const openIn = async () => {
    const store = make();
    return { store, opened: await store.open() };
  };
  const wal = () => admin(adminUrl, async (c) => Number((await c.query(`SELECT pg_current_wal_lsn() - '0/0' AS b`)).rows[0].b));
  const walAtStart = await wal();
  return {
    location: redactUrl(url),
    open: openIn,
    async reopenAfterCrash(abandoned: RunStore) {
      // What a crash of the node leaves: its connections gone, nothing of a shutdown. (PgRunStore.close() only ends its
      // pool, so this is the same as a SIGKILL for what reaches the database.)
      await (abandoned as PgRunStore).pool.end().catch(() => {});
      return openIn();
    },
    bytesWritten: async () => (await wal()) - walAtStart,
    faults: {
      // A real outage: the database refuses new connections and the store's open ones are terminated, so its next
      // statement fails before anything is written; then connections are allowed again.
      async whileWritesFail(_store, act) {
        await admin(adminUrl, async (c) => {
          await c.query(`ALTER DATABASE ${db} ALLOW_CONNECTIONS false`);
          await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
        });
        try {
          return await act();
        } finally {
          await admin(adminUrl, (c) => c.query(`ALTER DATABASE ${db} ALLOW_CONNECTIONS true`));
        }
      },
    },
    crashChild: {
      spawn: ({ first, count }) =>
        spawn(process.execPath, ['--import', 'tsx', PG_STORE_CHILD, url, String(first), String(count)], {
          cwd: serverDir,
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { ...process.env, NODE_OPTIONS: '' },
        }),
    },
    cleanup: () => dropScratchDatabase(url),
  };
}
