import { test as base, expect } from '@playwright/test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_SECRET, seedDataDir } from '../../packages/server/bench/lib/seed.ts';
import { TetherProcess, freePort } from './server.ts';

export interface TetherWorkerFixtures {
  /** Extra environment for the server; a file that sets it with `test.use({ tetherEnv })` gets a server of its own. */
  tetherEnv: Record<string, string>;
  /**
   * Runs written into the data dir before the server first starts (the store's own layout, as the benchmarks seed it):
   * thousands of runs in seconds, where the API would take minutes on a loaded machine. Null: an empty data dir.
   */
  tetherSeed: { waiting: number; finished: number } | null;
  tether: TetherProcess;
}

/** One real server per worker (and per distinct `tetherEnv`), and pages open on it. */
export const test = base.extend<{ tetherUrl: string }, TetherWorkerFixtures>({
  tetherEnv: [{}, { scope: 'worker', option: true }],
  tetherSeed: [null, { scope: 'worker', option: true }],
  tether: [
    async ({ tetherEnv, tetherSeed }, use) => {
      const t = new TetherProcess(await freePort(), tetherEnv);
      // Seeded runs target a closed loopback port: they only ever wait (minutes) or are finished already.
      if (tetherSeed) {
        await seedDataDir({ dir: t.dataDir, ...tetherSeed, targetUrl: 'http://127.0.0.1:9/jobs', t0: Date.now() - 60_000 });
        // The secret the seeded runs' callback URLs were signed with: a data dir with runs and no secret is refused.
        writeFileSync(join(t.dataDir, 'secret'), BENCH_SECRET, { mode: 0o600 });
      }
      await t.start();
      await use(t);
      await t.stop();
    },
    { scope: 'worker' },
  ],
  tetherUrl: async ({ tether }, use) => use(tether.url),
  baseURL: async ({ tether }, use) => use(tether.url),
});
export { expect };
