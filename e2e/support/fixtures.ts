import { test as base, expect } from '@playwright/test';
import { TetherProcess, freePort } from './server.ts';

export interface TetherWorkerFixtures {
  /** Extra environment for the server; a file that sets it with `test.use({ tetherEnv })` gets a server of its own. */
  tetherEnv: Record<string, string>;
  tether: TetherProcess;
}

/** One real server per worker (and per distinct `tetherEnv`), and pages open on it. */
export const test = base.extend<{ tetherUrl: string }, TetherWorkerFixtures>({
  tetherEnv: [{}, { scope: 'worker', option: true }],
  tether: [
    async ({ tetherEnv }, use) => {
      const t = new TetherProcess(await freePort(), tetherEnv);
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
