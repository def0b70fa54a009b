import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { defineConfig, type Plugin, type ResolvedConfig } from 'vite';
import react from '@vitejs/plugin-react';

/** Where `pnpm dev` forwards API, WebSocket and simulator calls: the Tether server's default address. */
const SERVER = process.env.TETHER_DEV_SERVER ?? 'http://127.0.0.1:3000';

/** Text the server sends compressed. Source maps are left alone: they are not served unless TETHER_DASHBOARD_SOURCEMAPS=1. */
const COMPRESSIBLE = /\.(?:js|mjs|css|html|svg|json|txt|xml|wasm)$/;

/**
 * Writes `<file>.br` (brotli, quality 11) and `<file>.gz` (gzip -9) beside every compressible file of the build, each
 * only when it is smaller than the file. The server sends them as they are (@fastify/static `preCompressed`), so a
 * compressed response costs it no CPU, and sends the file itself to a client that accepts neither or when none is there.
 */
function precompress(): Plugin {
  let config: ResolvedConfig;
  const br = promisify(brotliCompress);
  const gz = promisify(gzip);
  return {
    name: 'tether:precompress',
    apply: 'build',
    configResolved(resolved) {
      config = resolved;
    },
    writeBundle: {
      order: 'post',
      sequential: true,
      async handler(options) {
        const dir = options.dir ?? config.build.outDir;
        const files = (await readdir(dir, { recursive: true })).filter((f) => COMPRESSIBLE.test(f));
        const totals = { files: files.length, raw: 0, br: 0, gz: 0 };
        await Promise.all(
          files.map(async (f) => {
            const path = join(dir, f);
            if (!(await stat(path)).isFile()) return;
            const raw = await readFile(path);
            const [b, g] = await Promise.all([
              br(raw, {
                params: {
                  [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
                  [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
                  [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
                },
              }),
              gz(raw, { level: constants.Z_BEST_COMPRESSION }),
            ]);
            totals.raw += raw.length;
            if (b.length < raw.length) await writeFile(`${path}.br`, b);
            if (g.length < raw.length) await writeFile(`${path}.gz`, g);
            totals.br += Math.min(b.length, raw.length);
            totals.gz += Math.min(g.length, raw.length);
          }),
        );
        const kB = (n: number) => `${(n / 1000).toFixed(2)} kB`;
        config.logger.info(`precompressed ${totals.files} files: ${kB(totals.raw)} → brotli ${kB(totals.br)}, gzip ${kB(totals.gz)}`);
      },
    },
  };
}

export default defineConfig({
  base: '/',
  plugins: [react(), precompress()],
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
