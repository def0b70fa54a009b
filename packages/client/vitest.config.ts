import { defineConfig } from 'vitest/config';
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real servers, real simulator delays and child processes: hang detectors, not speed limits.
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
