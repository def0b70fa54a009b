/**
 * B5 restart to serving: the production runner, the bundle `pnpm start` builds and runs (`node dist/server.mjs`,
 * scripts/build.ts), starts on a data dir holding 100k active runs (each waiting for its callback, one timer each).
 * The bundle is built once first, not timed. Measured from spawn until GET /healthz answers with every run loaded and
 * every timer armed, twice:
 *   - after a crash: the seeded dir has no shutdown checkpoint, so every run file is read (as after SIGKILL);
 *   - after a clean shutdown: that server is stopped with SIGTERM (it writes its checkpoint) and started again.
 * The same start on an empty data dir is measured too: the part that is Node + Fastify, not recovery; and, for
 * comparison, under tsx from source (`node --import tsx src/server.ts`, what `pnpm dev` and the tests run).
 */
import { existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildServer } from '../../scripts/build.ts';
import { SERVER_DIR } from '../lib/child.ts';
import { BENCH_SECRET, seedDataDir } from '../lib/seed.ts';
import { progress, round, sleep, QUICK } from '../lib/util.ts';
import type { Row } from '../lib/row.ts';

interface Health {
  runs: number;
  activeRuns: number;
  timers: number;
}

/** Node arguments of the production runner; checked against the `start` script so the two cannot drift apart. */
const BUNDLE_RUNNER = ['dist/server.mjs'];
const TSX_RUNNER = ['--import', 'tsx', 'src/server.ts'];

function checkStartScript(): void {
  const start = (JSON.parse(readFileSync(join(SERVER_DIR, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? '';
  const runs = `node ${BUNDLE_RUNNER.join(' ')}`;
  if (!start.endsWith(runs)) throw new Error(`B5 measures \`${runs}\`, but @tether/server's start script is \`${start}\`; keep them in step`);
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/**
 * Spawns the real server and returns ms until /healthz reports `expect` runs with all their timers armed; then stops
 * it with SIGTERM (a clean shutdown) and waits for it to exit.
 */
async function timeToServing(
  dataDir: string,
  expect: number,
  runner = BUNDLE_RUNNER,
): Promise<{ ms: number; health: Health; exitCode: number | null }> {
  const port = await freePort();
  const t0 = performance.now();
  const proc = spawn(process.execPath, runner, {
    cwd: SERVER_DIR,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      TETHER_DATA_DIR: dataDir,
      TETHER_SECRET: BENCH_SECRET,
      TETHER_LOG_LEVEL: 'warn',
      TETHER_SIMULATOR: 'off',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-5000)));
  const exited = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}) before serving:\n${err}`);
      if (performance.now() - t0 > 180_000) throw new Error(`server not serving after 180 s:\n${err}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) {
          const health = (await res.json()) as Health;
          if (health.activeRuns === expect && health.timers === expect) {
            const ms = performance.now() - t0;
            proc.kill('SIGTERM');
            return { ms, health, exitCode: await exited };
          }
        }
      } catch {
        /* not listening yet */
      }
      await sleep(10);
    }
  } finally {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
  }
}

export async function benchRestart(work: string, targetUrl: string): Promise<Row[]> {
  const n = QUICK ? 300 : 100_000;
  checkStartScript();
  progress('B5: building dist/server.mjs (not timed)');
  await buildServer();
  const dir = join(work, 'b5');
  progress(`B5: seeding ${n} active runs`);
  await seedDataDir({ dir, waiting: n, finished: 0, targetUrl });
  const bare = await timeToServing(join(work, 'b5-empty'), 0);
  progress(`B5: empty data dir serving after ${Math.round(bare.ms)} ms (Node + Fastify)`);
  const bareTsx = await timeToServing(join(work, 'b5-empty-tsx'), 0, TSX_RUNNER);
  progress(`B5: the same under tsx from source: ${Math.round(bareTsx.ms)} ms`);
  const crash = await timeToServing(dir, n);
  progress(
    `B5: after a crash (no checkpoint): ${n} active runs serving after ${Math.round(crash.ms)} ms; stopped with SIGTERM (exit ${crash.exitCode})`,
  );
  const checkpointed = existsSync(join(dir, 'checkpoint.json'));
  const clean = await timeToServing(dir, n);
  progress(`B5: after a clean shutdown (checkpoint ${checkpointed ? 'written' : 'MISSING'}): serving after ${Math.round(clean.ms)} ms`);
  const small = QUICK ? 100 : 10_000;
  const smallDir = join(work, 'b5-small');
  await seedDataDir({ dir: smallDir, waiting: small, finished: 0, targetUrl });
  const smallCrash = await timeToServing(smallDir, small);
  progress(`B5: ${small} active runs after a crash: serving after ${Math.round(smallCrash.ms)} ms`);
  return [
    {
      id: 'B5',
      measure: `restart to serving (spawn \`node dist/server.mjs\` → /healthz with every timer armed) with ${n} active runs`,
      figure: `${round(crash.ms / 1000, 2)} s after a crash (${small}: ${round(smallCrash.ms / 1000, 2)} s); ${round(clean.ms / 1000, 2)} s after a clean shutdown (empty data dir: ${round(bare.ms / 1000, 2)} s; ${round(bareTsx.ms / 1000, 2)} s under tsx)`,
      goal: `crash ≤ 1.5 s (≤ 0.5 s at ${small}); clean ≤ 3 s`,
      pass: checkpointed && crash.ms <= 1500 && smallCrash.ms <= 500 && clean.ms <= 3000,
      details: {
        activeRuns: n,
        runner: `node ${BUNDLE_RUNNER.join(' ')}`,
        cleanMs: clean.ms,
        crashMs: crash.ms,
        smallCrashMs: smallCrash.ms,
        smallActiveRuns: small,
        emptyDirMs: bare.ms,
        emptyDirTsxMs: bareTsx.ms,
        checkpointed,
        health: clean.health,
      },
    },
  ];
}
