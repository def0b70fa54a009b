/**
 * The production runner: src/server.ts bundled into one plain-JavaScript ES module, dist/server.mjs, run with plain
 * `node` (`pnpm start`). Under tsx every start pays for its loader hooks transforming TypeScript and resolving each of
 * TypeBox's ~600 ES modules through them, about a second on these machines (B5, docs/benchmarks.md).
 *
 *   node --import tsx scripts/build.ts        (pnpm --filter @tether/server build)
 *
 * Bundled: our source and the workspace packages (@tether/*), which are consumed as TypeScript source and which plain
 * node could not load, and `typebox`: its ~600 small ES modules cost ~200 ms of Node's own module loading at every
 * start (no other package imports it at run time, so there is one copy). External: every other npm package (and node:
 * builtin), imported at run time from node_modules as before. dist/ sits at the same depth as src/, so paths computed from
 * `import.meta.url` (the dashboard dir in settings.ts) resolve alike from both.
 *
 * The store's writer threads are entry points of their own: each module of THREAD_MODULES (src/store/<name>.ts) becomes
 * dist/<name>.mjs, beside server.mjs, where store/writer-thread.ts looks for it when it runs from the bundle.
 *
 * `pnpm start` runs it without --enable-source-maps: that flag costs start-up time (~50–100 ms of an empty-dir start
 * here), and the bundle is not minified, each module under a `// src/…` heading, so its stack traces read as they are.
 * The map is written all the same: `node --enable-source-maps dist/server.mjs` reports src/ lines.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { THREAD_MODULES } from '../src/store/thread-protocol.ts';

const SERVER_DIR = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(SERVER_DIR, 'dist');
export const BUNDLE = join(DIST, 'server.mjs');

/** A bare specifier's package name: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
const packageName = (spec: string) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

/** Whether Node, looking up `name` from `fromDir`, would find a node_modules/<name> on the way up. */
function findsPackage(name: string, fromDir: string): boolean {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules', name))) return true;
    if (dirname(dir) === dir) return false;
  }
}

/**
 * `packages: 'external'` would leave `@tether/machine` external too, and plain node cannot import its .ts source; so
 * bare specifiers are decided here: workspace packages are bundled, everything else stays an import. An external
 * imported from a workspace package is resolved at run time from dist/, not from that package's dir, so each one is
 * checked to be reachable from there (a dependency only @tether/machine declares would otherwise fail at start-up).
 */
const BUNDLED_NPM = new Set(['typebox']);

const externalNpmPackages = (outDir: string, unreachable: Set<string>): Plugin => ({
  name: 'external-npm-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      // esbuild resolves these through the workspace link / node_modules and bundles them.
      if (args.path.startsWith('@tether/') || BUNDLED_NPM.has(packageName(args.path))) return undefined;
      if (!args.path.startsWith('node:')) {
        const name = packageName(args.path);
        if (!findsPackage(name, outDir)) unreachable.add(`${name} (imported by ${relative(SERVER_DIR, args.importer)})`);
      }
      return { path: args.path, external: true };
    });
  },
});

/**
 * Builds dist/server.mjs and the writer threads' dist/<name>.mjs (each with its source map). Each file is written beside
 * itself and renamed into place, the threads before the server bundle, so a server starting meanwhile (a test, a
 * benchmark, another `pnpm start`) loads either the old bundle or the new, never half, and finds its threads in place.
 *
 * `outDir` (a test's) must sit at the depth of src/ in this package, like dist/: the bundle's relative paths and its
 * externals resolve from there. Resolves with the bundle's path.
 */
export async function buildServer(outDir: string = DIST): Promise<string> {
  const bundlePath = join(outDir, 'server.mjs');
  const unreachable = new Set<string>();
  const result = await build({
    absWorkingDir: SERVER_DIR,
    entryPoints: [{ in: 'src/server.ts', out: 'server' }, ...THREAD_MODULES.map((m) => ({ in: `src/store/${m}.ts`, out: m }))],
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    // The sources are in the repository next to dist/; the map only needs to point at them (a smaller map to load).
    sourcesContent: false,
    plugins: [externalNpmPackages(outDir, unreachable)],
    logLevel: 'warning',
    write: false,
  });
  if (unreachable.size > 0) {
    throw new Error(
      `the bundle would import packages it cannot reach from ${relative(SERVER_DIR, outDir)}/: ${[...unreachable].join(', ')}; add them to @tether/server's dependencies`,
    );
  }
  const bundle = result.outputFiles.find((f) => f.path === bundlePath);
  if (!bundle) throw new Error(`esbuild produced no ${bundlePath}`);
  for (const m of THREAD_MODULES) {
    if (!result.outputFiles.some((f) => f.path === join(outDir, `${m}.mjs`))) throw new Error(`esbuild produced no ${m}.mjs`);
  }
  // Our code is ES modules throughout; a `require` in it would become esbuild's shim, which throws in an ES module.
  for (const f of result.outputFiles) {
    if (f.path.endsWith('.mjs') && f.text.includes('__require('))
      throw new Error(`${relative(SERVER_DIR, f.path)} calls require(), which an ES module does not have; import instead`);
  }
  await mkdir(outDir, { recursive: true });
  // Maps first, then the threads, the server bundle last: whatever a file names is in place before it.
  const rank = (f: { path: string }) => (f === bundle ? 2 : f.path.endsWith('.mjs') ? 1 : 0);
  for (const file of [...result.outputFiles].sort((a, b) => rank(a) - rank(b))) {
    const temp = `${file.path}.${process.pid}.tmp`;
    await writeFile(temp, file.contents);
    await rename(temp, file.path);
  }
  const threads = THREAD_MODULES.map((m) => `${m}.mjs`).join(', ');
  console.log(
    `built ${relative(process.cwd(), bundlePath) || bundlePath} (${Math.round(bundle.contents.byteLength / 1024)} KiB) and its writer threads (${threads})`,
  );
  return bundlePath;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildServer();
}
