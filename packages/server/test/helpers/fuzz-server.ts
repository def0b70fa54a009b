/**
 * A real Tether server for the fuzz, hostile and fault tests: `buildApp` listening on an ephemeral loopback port, its
 * data in a temp dir, requests over real HTTP with any body, any content type, any path. Answers are never assumed to
 * be JSON: a test that fuzzes must see exactly what the server sent.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Run, RunEventEntry } from '@tether/machine';
import { buildApp, type BuildOptions } from '../../src/app.ts';
import { loadSettings, type Settings } from '../../src/settings.ts';
import type { Clock } from '../../src/engine/clock.ts';
import type { RunFiles } from '../../src/store/types.ts';

export interface ServeOptions {
  /** Environment as the runner would read it (never the real process.env). */
  env?: Record<string, string>;
  settings?: Partial<Settings>;
  clock?: Clock;
  /** Wraps or replaces the store; receives the data dir. */
  store?: (dataDir: string) => RunFiles;
  /** Reuse a data dir (a restart); it is then not removed on close. */
  dataDir?: string;
  build?: Pick<BuildOptions, 'maxRejectedPerRun' | 'requestTimeoutMs' | 'logger'>;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: unknown;
}

export interface SendOptions {
  /** Sent as is. */
  body?: string | Uint8Array;
  /** JSON-encoded, with content-type application/json unless `headers` says otherwise. */
  json?: unknown;
  headers?: Record<string, string>;
}

export interface Served {
  app: FastifyInstance;
  /** Requests sent through `send` so far, and how many were answered with each status class. */
  sent: { total: number; byClass: Record<string, number> };
  base: string;
  dataDir: string;
  send(method: string, pathOrUrl: string, opts?: SendOptions): Promise<Answer>;
  run(id: string): Promise<Run>;
  events(id: string): Promise<RunEventEntry[]>;
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function serve(opts: ServeOptions = {}): Promise<Served> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'tether-fuzz-')));
  const settings = loadSettings(
    { TETHER_SECRET: 'fuzz-secret-fuzz-secret-fuzz-secret-0123', TETHER_LOG_LEVEL: 'silent', ...opts.env },
    { port: 0, dataDir, dashboardDir: '/nonexistent', ...opts.settings },
  );
  const app = await buildApp({
    settings,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.store ? { store: opts.store(dataDir) } : {}),
    ...opts.build,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

  const sent = { total: 0, byClass: {} as Record<string, number> };
  const send = async (method: string, pathOrUrl: string, o: SendOptions = {}): Promise<Answer> => {
    const headers: Record<string, string> = { ...o.headers };
    let body: string | Uint8Array | undefined = o.body;
    if (o.json !== undefined) {
      body = JSON.stringify(o.json);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${base}${pathOrUrl}`;
    const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    sent.total++;
    const cls = `${String(res.status)[0]}xx`;
    sent.byClass[cls] = (sent.byClass[cls] ?? 0) + 1;
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };

  const must = async <T>(path: string): Promise<T> => {
    const a = await send('GET', path);
    if (a.status !== 200) throw new Error(`GET ${path}: ${a.status} ${a.text}`);
    return a.json as T;
  };

  return {
    app,
    base,
    dataDir,
    sent,
    send,
    run: (id) => must<Run>(`/api/runs/${id}`),
    events: async (id) => (await must<{ events: RunEventEntry[] }>(`/api/runs/${id}/events`)).events,
    idle: () => app.tether.engine.idle(),
    async close() {
      await app.close();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
