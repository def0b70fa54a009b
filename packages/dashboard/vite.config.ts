import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/** Where `pnpm dev` forwards API, WebSocket and simulator calls: the Tether server's default address. */
const SERVER = process.env.TETHER_DEV_SERVER ?? 'http://127.0.0.1:3000';

export default defineConfig({
  base: '/',
  plugins: [react()],
  resolve: {
    // @tether/machine is consumed as TypeScript source (its `exports` point at src/index.ts); one copy of
    // xstate and react must serve both the machine and the dashboard, or snapshots and hooks stop matching.
    dedupe: ['xstate', 'react', 'react-dom'],
  },
  server: {
    proxy: {
      '/api': { target: SERVER, ws: true, changeOrigin: true },
      '/simulator': { target: SERVER, changeOrigin: true },
      '/healthz': { target: SERVER, changeOrigin: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    rolldownOptions: {
      output: {
        // React changes far less often than the app: its own chunk stays cached across dashboard releases.
        codeSplitting: { groups: [{ name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/ }] },
      },
    },
  },
});
