/**
 * A writer thread and its request/reply protocol, shared by the journal (journal.ts) and the write-back
 * (run-file-writer.ts). Each request carries an id, the thread answers in order with the same id. Idle, the thread
 * does not keep the process alive; while a request is in flight its pending reply does. Once the thread dies (or is
 * stopped), every pending and later request rejects, saying so.
 *
 * The thread's code is a TypeScript module beside this one (journal-thread.ts, run-file-thread.ts; messages typed in
 * thread-protocol.ts), and the worker always starts from a data: URL:
 *
 *   - from the bundle (`pnpm start` → `node dist/server.mjs`): a one-line module that imports `<module>.mjs` beside
 *     dist/server.mjs, where scripts/build.ts bundles each module of THREAD_MODULES as an entry point of its own.
 *   - from source (tsx: the tests' children, `pnpm dev`; vitest): the module bundled by esbuild here, on the main
 *     thread, once per process and module. `new Worker('<module>.ts')` does not load under either runner on Node 20:
 *     tsx registers its loader hooks on the main thread only (`--import tsx`, which the worker inherits, does nothing
 *     there), and vitest transforms only what runs in its own module runner. Registering tsx inside each worker works
 *     but cost ~250 ms per thread start (two per store opened), esbuild ~50 ms once per process.
 *
 * Why never the module's file as the entry point: a worker inherits its parent's execArgv, and one whose entry point is
 * a file refuses to start when that includes `--input-type` (`node --input-type=module -e …`: "--input-type can only
 * be used with string input"), which stopped every commit. Giving the worker an execArgv without it is no way out: an
 * explicit execArgv refuses per-process flags such as `--expose-gc`. A data: URL is also always an ES module, whatever
 * the flags (an `eval: true` worker is CommonJS or not depending on them).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Envelope, Reply, Request, ThreadModule } from './thread-protocol.ts';

/** This module runs from its TypeScript source (tsx, vitest), not from the bundle (dist/server.mjs). */
const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** Where a thread module is: beside this file when running from source, beside the bundle otherwise. */
export function threadModuleUrl(module: ThreadModule): URL {
  return new URL(`./${module}.${FROM_SOURCE ? 'ts' : 'mjs'}`, import.meta.url);
}

const dataUrl = (source: string) => new URL(`data:text/javascript,${encodeURIComponent(source)}`);

/** Source mode only: each thread module bundled into one ES module (node: builtins stay imports). */
const bundled = new Map<ThreadModule, URL>();

function bundleFromSource(module: ThreadModule): URL {
  let url = bundled.get(module);
  if (!url) {
    // Loaded here, never from the bundle: esbuild is a build-time dependency, and dist/ ships the modules prebuilt.
    const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
    const out = esbuild.buildSync({
      entryPoints: [fileURLToPath(threadModuleUrl(module))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      write: false,
      logLevel: 'silent',
    });
    url = dataUrl(out.outputFiles[0]!.text);
    bundled.set(module, url);
  }
  return url;
}

/** The worker's entry point (see the top of this file for why it is a data: URL either way). */
function entryPoint(module: ThreadModule): URL {
  return FROM_SOURCE ? bundleFromSource(module) : dataUrl(`import ${JSON.stringify(threadModuleUrl(module).href)};`);
}

export class WriterThread<M extends ThreadModule> {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: Reply<M>) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;

  /** `onReply` sees every reply before its caller does. */
  constructor(
    module: M,
    private readonly name: string,
    onReply: (r: Reply<M>) => void = () => {},
  ) {
    this.worker = new Worker(entryPoint(module));
    this.worker.unref();
    this.worker.on('message', (r: Envelope<Reply<M>>) => {
      const pending = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      if (this.waiting.size === 0) this.worker.unref();
      onReply(r);
      pending?.resolve(r);
    });
    // A module that fails to load (or throws) surfaces here: every commit then fails, naming the cause.
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`exited with code ${code}`)));
  }

  private stoppedError(): Error {
    return new Error(`${this.name} stopped: ${this.dead!.message}`);
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const pending of this.waiting.values()) pending.reject(this.stoppedError());
    this.waiting.clear();
  }

  call(msg: Request<M>): Promise<Reply<M>> {
    if (this.dead) return Promise.reject(this.stoppedError());
    const id = ++this.nextId;
    return new Promise<Reply<M>>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref();
      const envelope: Envelope<Request<M>> = { ...msg, id };
      this.worker.postMessage(envelope);
    });
  }

  /** Sends `last` (answered after everything posted before it), then stops the thread. */
  async stop(last: Request<M>): Promise<void> {
    if (!this.dead) await this.call(last).catch(() => {});
    this.dead ??= new Error('closed');
    await this.worker.terminate();
  }
}
