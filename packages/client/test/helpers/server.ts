/**
 * A real Tether server for the client's tests, built as packages/server/test/helpers/fuzz-server.ts builds it:
 * `buildApp` listening on an ephemeral loopback port, its data in a temp dir, no dashboard, the built-in simulator on.
 * The server package exports only its entry point, so the app and settings are imported by path.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunConfig, SimulateSpec, TriggerBody } from '@tether/machine/protocol';
import { buildApp } from '../../../server/src/app.ts';
import { loadSettings } from '../../../server/src/settings.ts';

/** The server's TETHER_SECRET: it signs callback URLs, and the completion webhooks (`Tether-Signature`). */
export const SECRET = 'client-test-secret-client-test-secret-01';

export interface TestServer {
  app: Awaited<ReturnType<typeof buildApp>>;
  /** `http://127.0.0.1:<port>` */
  base: string;
  close(): Promise<void>;
}

export async function startServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tether-client-'));
  const settings = loadSettings(
    { TETHER_SECRET: SECRET, TETHER_LOG_LEVEL: 'silent', ...env },
    { port: 0, dataDir, dashboardDir: join(dataDir, 'no-dashboard') },
  );
  const app = await buildApp({ settings, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return {
    app,
    base,
    async close() {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A config aimed at the built-in simulator, which plays the external system as `simulate` says. */
export function simulated(base: string, simulate: SimulateSpec, cfg: Partial<RunConfig> = {}): RunConfig {
  return {
    name: `sim ${simulate.outcome ?? simulate.perAttempt?.join(',') ?? 'success'}`,
    target: { url: `${base}/simulator/jobs` },
    payload: { simulate: { delaySeconds: 0.05, ...simulate } },
    timeoutSeconds: 10,
    retryLimit: 0,
    backoff: { initialSeconds: 0.05 },
    ...cfg,
  };
}

export interface Trigger {
  headers: IncomingMessage['headers'];
  body: TriggerBody;
}

/** A tiny external system over node:http: answers every trigger 202 and keeps it, for the test to call back. */
export interface FakeExternal {
  url: string;
  triggers: Trigger[];
  /** The next trigger (resolves at once if one is waiting that was not taken yet). */
  nextTrigger(): Promise<Trigger>;
  close(): Promise<void>;
}

export async function fakeExternal(): Promise<FakeExternal> {
  const triggers: Trigger[] = [];
  let taken = 0;
  const waiters: ((t: Trigger) => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const t: Trigger = { headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as TriggerBody };
      triggers.push(t);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
      const w = waiters.shift();
      if (w) {
        taken++;
        w(t);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/jobs`,
    triggers,
    nextTrigger: () =>
      new Promise<Trigger>((resolve) => {
        const ready = triggers[taken];
        if (ready) {
          taken++;
          resolve(ready);
        } else waiters.push(resolve);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
