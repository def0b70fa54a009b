/**
 * The store's writer threads (store/journal-thread.ts, store/run-file-thread.ts) load wherever the server runs. Every
 * other store test covers them from source under vitest; here, a real server process in each other way it is started:
 *
 *   - from source under `node --import tsx --input-type=module -e`: a worker inherits `--input-type`, and one started
 *     from a file then refuses to start at all (every commit failed with it once);
 *   - from the production bundle, `node dist/server.mjs` (`pnpm start`), whose threads are dist/<name>.mjs beside it,
 *     and the same bundle under `--input-type=module -e`.
 *
 * Each one must commit a run, be called back by the built-in simulator, and at SIGTERM write the journal back into the
 * run files, leaving no journal segment: both threads did their work.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toRunSummary, type Run } from '@tether/machine';
import { buildServer } from '../scripts/build.ts';
import { THREAD_MODULES } from '../src/store/thread-protocol.ts';
import type { RunDoc } from '../src/store/types.ts';
import { tempDir } from './helpers/engine.ts';
import { SERVER_PACKAGE_DIR } from './helpers/soak-server.ts';
import { until } from './helpers/http-app.ts';

const SOURCE_ENTRY = pathToFileURL(join(SERVER_PACKAGE_DIR, 'src/server.ts')).href;

let tmp: Awaited<ReturnType<typeof tempDir>>;
let child: ChildProcess | null = null;

beforeEach(async () => {
  tmp = await tempDir('tether-threads-');
});
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }
  child = null;
  await tmp.cleanup();
});

/** Starts a server with `args` on `tmp.dir`; resolves with its address once it says it is running. */
async function startServer(args: string[]): Promise<{ base: string; output: () => string; exited: Promise<number | null> }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TETHER_') && k !== 'PORT' && k !== 'HOST'));
  const proc = spawn(process.execPath, args, {
    cwd: SERVER_PACKAGE_DIR,
    env: {
      ...inherited,
      NODE_OPTIONS: '',
      HOST: '127.0.0.1',
      PORT: '0',
      TETHER_DATA_DIR: tmp.dir,
      TETHER_LOG_LEVEL: 'warn',
      TETHER_DASHBOARD_DIR: join(tmp.dir, 'no-dashboard'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let output = '';
  proc.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  proc.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((r) =>
    proc.once('exit', (code) => {
      exitCode = code;
      r(code);
    }),
  );
  // Its "Tether is running" banner names the port it took. A server that cannot start exits: fail with what it said.
  const seen = await until(
    'the server to listen',
    async () => {
      if (exitCode !== undefined) return { exited: exitCode };
      const m = /Dashboard: +(http:\/\/127\.0\.0\.1:\d+)\//.exec(output);
      return m ? { base: m[1]! } : undefined;
    },
    60_000,
  );
  if (seen.base === undefined) throw new Error(`the server exited (code ${seen.exited}) before listening:\n${output}`);
  return { base: seen.base, output: () => output, exited };
}

/** A run against the built-in simulator, called back at once; resolves with its id once it has succeeded. */
async function runToSuccess(base: string): Promise<string> {
  const res = await fetch(`${base}/api/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'threads',
      target: { url: `${base}/simulator/jobs` },
      payload: { simulate: { outcome: 'success', delaySeconds: 0 } },
      timeoutSeconds: 60,
      retryLimit: 1,
    }),
  });
  const text = await res.text();
  expect(res.status, text).toBe(201);
  const { id } = JSON.parse(text) as Run;
  await until(
    `run ${id} to succeed`,
    async () => {
      const run = (await (await fetch(`${base}/api/runs/${id}`)).json()) as Run;
      return run.status === 'succeeded' ? run : undefined;
    },
    30_000,
  );
  return id;
}

/** SIGTERM, a clean exit, and the journal written back: the run file holds the succeeded run, no segment is left. */
async function stopAndCheck(server: { output: () => string; exited: Promise<number | null> }, runId: string): Promise<void> {
  child!.kill('SIGTERM');
  expect(await server.exited, server.output()).toBe(0);
  expect(await readdir(join(tmp.dir, 'journal')), 'a clean stop leaves no journal segment').toEqual([]);
  const doc = JSON.parse(await readFile(join(tmp.dir, 'runs', `${runId}.json`), 'utf8')) as RunDoc;
  expect(doc.id).toBe(runId);
  expect(toRunSummary(doc.snapshot).status).toBe('succeeded');
}

describe('the writer threads', () => {
  it('load from source in a server started with node --import tsx --input-type=module -e: it commits, is called back, and writes back at SIGTERM', async () => {
    const server = await startServer(['--import', 'tsx', '--input-type=module', '-e', `await import(${JSON.stringify(SOURCE_ENTRY)});`]);
    const id = await runToSuccess(server.base);
    await stopAndCheck(server, id);
  });

  describe('from the production bundle', () => {
    // Built by scripts/build.ts as `pnpm start` builds it, into a directory of its own (not dist/, which another
    // process may be running from; nor an old build's files, which would hide a thread that is no longer built). It
    // sits beside src/ as dist/ does: the bundle's relative paths and its packages resolve from there.
    let outDir: string;
    let bundle: string;
    beforeAll(async () => {
      outDir = await mkdtemp(join(SERVER_PACKAGE_DIR, '.tether-build-test-'));
      bundle = await buildServer(outDir);
    });
    afterAll(async () => {
      await rm(outDir, { recursive: true, force: true });
    });

    it('are built beside server.mjs', async () => {
      const built = await readdir(outDir);
      for (const m of THREAD_MODULES) expect(built).toContain(`${m}.mjs`);
    });

    it('load in `node dist/server.mjs`: it commits, is called back, and writes back at SIGTERM', async () => {
      const server = await startServer([bundle]);
      const id = await runToSuccess(server.base);
      await stopAndCheck(server, id);
    });

    it('load in the bundle started with node --input-type=module -e', async () => {
      const server = await startServer(['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(bundle).href)});`]);
      const id = await runToSuccess(server.base);
      await stopAndCheck(server, id);
    });
  });
});
