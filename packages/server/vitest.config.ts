import { defineConfig } from 'vitest/config';
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One PostgreSQL for the whole run (or TETHER_TEST_DATABASE_URL), provided to tests as inject('pgAdminUrl').
    globalSetup: ['test/global-postgres.ts'],
    // Hang detectors, not speed limits: `pnpm test` must pass on a loaded two-core machine (crash tests spawn real child
    // servers, the quick soak runs for about a minute), so these are generous. No test asserts how fast anything is.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Crash tests spawn real child servers; two cores do not like many at once.
    maxWorkers: 2,
  },
});
