import { test as base, expect } from '@playwright/test';
import { TetherProcess, freePort } from './server.ts';

/** Each test file gets its own real server (worker-scoped), and pages open on it. */
export const test = base.extend<{ tetherUrl: string }, { tether: TetherProcess }>({
  tether: [
    async ({}, use) => {
      const t = new TetherProcess(await freePort());
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
