/**
 * A real Tether server for HTTP tests: the app from `buildApp`, listening on an ephemeral loopback port, with its data in
 * a fresh temp dir. Requests are real HTTP (fetch). Time is a ManualClock when the test passes one, so attempt timeouts
 * and backoffs are skipped, not slept through.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { CallbackResult, ErrorBody, Run, RunConfig, RunEventEntry } from '@tether/machine';
import { buildApp, type BuildOptions } from '../../src/app.ts';
import { loadSettings, type Settings } from '../../src/settings.ts';
import type { RunFiles } from '../../src/store/types.ts';
import type { ManualClock } from './manual-clock.ts';

export interface StartOptions {
  /** Environment as the runner would see it, e.g. `{ TETHER_API_TOKEN: 't' }`. Never the real process.env. */
  env?: Record<string, string>;
  /** Settings overrides applied after the environment. */
  settings?: Partial<Settings>;
  clock?: ManualClock;
  logger?: BuildOptions['logger'];
  /** Wraps the real lowdb store (e.g. to hold commits); receives the data dir. */
  store?: (dataDir: string) => RunFiles;
}

export interface Reply<T> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

export interface RequestOptions {
  /** JSON-encoded as the body. */
  json?: unknown;
  /** Sent as is, as bytes: no content type at all unless `headers` sets one (a string body would get text/plain). */
  raw?: string;
  headers?: Record<string, string>;
}

export interface TestServer {
  app: FastifyInstance;
  /** `http://127.0.0.1:<port>` */
  base: string;
  dataDir: string;
  clock: ManualClock | undefined;
  request<T = unknown>(method: string, path: string, opts?: RequestOptions): Promise<Reply<T>>;
  /** Absolute URL (a callback URL from a Run) or a path on this server. */
  post<T = unknown>(urlOrPath: string, opts?: RequestOptions): Promise<Reply<T>>;
  createRun(config: Partial<RunConfig> & { target: RunConfig['target'] }, headers?: Record<string, string>): Promise<Run>;
  run(id: string, headers?: Record<string, string>): Promise<Run>;
  events(id: string, headers?: Record<string, string>): Promise<RunEventEntry[]>;
  /** Every queued commit and trigger in flight has settled. */
  idle(): Promise<void>;
  /** Moves the ManualClock (firing due timers) and waits for the commits and triggers that follows. */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

export type CallbackReply = Reply<CallbackResult>;
export type ErrorReply = Reply<ErrorBody>;

export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tether-http-'));
  const settings = loadSettings(
    { TETHER_SECRET: 'http-test-secret-http-test-secret-0123', ...opts.env },
    { port: 0, dataDir, dashboardDir: '/nonexistent', ...opts.settings },
  );
  const app = await buildApp({
    settings,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    ...(opts.store ? { store: opts.store(dataDir) } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const base = `http://127.0.0.1:${port}`;

  const send = async <T>(method: string, url: string, o: RequestOptions = {}): Promise<Reply<T>> => {
    const headers: Record<string, string> = { ...o.headers };
    let body: string | Uint8Array | undefined;
    if (o.json !== undefined) {
      body = JSON.stringify(o.json);
      headers['content-type'] ??= 'application/json';
    } else if (o.raw !== undefined) body = new Uint8Array(Buffer.from(o.raw, 'utf8'));
    const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, text, body: parsed as T };
  };

  const server: TestServer = {
    app,
    base,
    dataDir,
    clock: opts.clock,
    request: (method, path, o) => send(method, `${base}${path}`, o),
    post: (urlOrPath, o) => send('POST', urlOrPath.startsWith('http') ? urlOrPath : `${base}${urlOrPath}`, o),
    async createRun(config, headers) {
      const r = await send<Run>('POST', `${base}/api/runs`, {
        json: { timeoutSeconds: 60, retryLimit: 4, ...config },
        ...(headers ? { headers } : {}),
      });
      if (r.status !== 201) throw new Error(`createRun: ${r.status} ${r.text}`);
      return r.body;
    },
    async run(id, headers) {
      const r = await send<Run>('GET', `${base}/api/runs/${id}`, headers ? { headers } : {});
      if (r.status !== 200) throw new Error(`GET run ${id}: ${r.status} ${r.text}`);
      return r.body;
    },
    async events(id, headers) {
      const r = await send<{ events: RunEventEntry[] }>('GET', `${base}/api/runs/${id}/events`, headers ? { headers } : {});
      if (r.status !== 200) throw new Error(`GET events ${id}: ${r.status} ${r.text}`);
      return r.body.events;
    },
    idle: () => app.tether.engine.idle(),
    async advance(ms) {
      if (!opts.clock) throw new Error('advance() needs a ManualClock');
      await app.tether.engine.idle();
      opts.clock.advance(ms);
      await app.tether.engine.idle();
    },
    async close() {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * Polls `probe` until it returns something other than undefined, or fails after `timeoutMs` with what it last saw.
 * Only for things driven by real time (the simulator's delays); ManualClock tests use `advance` + `idle` instead.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The callback URL's parts, to forge variants of it (another attempt's signature, no signature…). */
export function splitCallbackUrl(url: string): { path: string; sig: string } {
  const u = new URL(url);
  return { path: u.pathname, sig: u.searchParams.get('sig') ?? '' };
}
