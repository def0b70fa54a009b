import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Clock times are formatted in local time; pin it so assertions read the same on every machine.
process.env.TZ = 'UTC';

export default defineConfig({
  plugins: [react()],
  resolve: { dedupe: ['xstate', 'react', 'react-dom'] },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
  },
});
