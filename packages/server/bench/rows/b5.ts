/**
 * B5 restart to serving: the real runner (`node --import tsx src/server.ts`) starts on a data dir holding 100k
 * active runs (each waiting for its callback, one timer each). Measured from spawn until GET /healthz answers
 * with every run loaded and every timer armed, twice:
 *   - after a crash: the seeded dir has no shutdown checkpoint, so every run file is read (as after SIGKILL);
 *   - after a clean shutdown: that server is stopped with SIGTERM (it writes its checkpoint) and started again.
 * The same start on an empty data dir is measured too: the part that is Node + tsx + Fastify, not recovery.
 */
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SERVER_DIR } from '../lib/child.ts';
import { BENCH_SECRET, seedDataDir } from '../lib/seed.ts';
import { progress, round, sleep, QUICK } from '../lib/util.ts';
import type { Row } from '../lib/row.ts';

interface Health {
  runs: number;
  activeRuns: number;
  timers: number;
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
async function timeToServing(dataDir: string, expect: number): Promise<{ ms: number; health: Health; exitCode: number | null }> {
  const port = await freePort();
  const t0 = performance.now();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: SERVER_DIR,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', TETHER_DATA_DIR: dataDir, TETHER_SECRET: BENCH_SECRET, TETHER_LOG_LEVEL: 'warn', TETHER_SIMULATOR: 'off' },
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
  const dir = join(work, 'b5');
  progress(`B5: seeding ${n} active runs`);
  await seedDataDir({ dir, waiting: n, finished: 0, targetUrl });
  const empty = join(work, 'b5-empty');
  const bare = await timeToServing(empty, 0);
  progress(`B5: empty data dir serving after ${Math.round(bare.ms)} ms (Node + tsx + Fastify)`);
  const crash = await timeToServing(dir, n);
  progress(`B5: after a crash (no checkpoint): ${n} active runs serving after ${Math.round(crash.ms)} ms; stopped with SIGTERM (exit ${crash.exitCode})`);
  const checkpointed = existsSync(join(dir, 'checkpoint.json'));
  const clean = await timeToServing(dir, n);
  progress(`B5: after a clean shutdown (checkpoint ${checkpointed ? 'written' : 'MISSING'}): serving after ${Math.round(clean.ms)} ms`);
  return [
    {
      id: 'B5',
      measure: `restart to serving (spawn → /healthz with every timer armed) with ${n} active runs`,
      figure: `${round(clean.ms / 1000, 2)} s after a clean shutdown; ${round(crash.ms / 1000, 2)} s after a crash (empty data dir: ${round(bare.ms / 1000, 2)} s)`,
      goal: '≤ 3 s',
      pass: checkpointed && clean.ms <= 3000,
      details: { activeRuns: n, cleanMs: clean.ms, crashMs: crash.ms, emptyDirMs: bare.ms, checkpointed, health: clean.health },
    },
  ];
}
