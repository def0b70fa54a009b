/**
 * Streams every run to the Stately inspector (TETHER_INSPECT=1 or `--inspect`). Loaded by app.ts with a dynamic import
 * only when on, so a server without it never loads @statelyai/inspect.
 *
 * Wiring: a local relay serves a bridge page (an iframe of https://stately.ai/inspect) and relays WebSocket messages to
 * it; `createWebSocketInspector` is our client of that relay. The relay does what `@statelyai/inspect/server`'s does (the
 * same page, the same relaying, the last 200 messages replayed to a page opened late), but is built here because that
 * one listens on all interfaces and takes no host: this one listens on HOST (loopback by default), like the API.
 * Anyone who can reach it can read every run's snapshots and events, so it also refuses WebSocket upgrades from web
 * pages of other origins (any page open in a browser on this machine could otherwise read it over loopback).
 *
 * Each run is one inspector session (`sessionId` = run id, the machine as its logic); every applied event is sent with
 * the snapshot it committed, from the engine's post-commit notification, so the inspector sees commit order. Runs still
 * open at start-up are announced with their current snapshot.
 *
 * Nothing secret leaves: target header values, the API token, the HMAC secret and callback signatures are scrubbed from
 * contexts and events (wherever they appear, e.g. echoed back in a callback message) before they are handed over.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { ActorRefLike, AnyEventObject } from 'xstate';
import { isFinalRunStatus, redactConfig, runMachine } from '@tether/machine';
import { replayRun } from '../engine/replay.ts';
import type { Signer } from '../engine/signer.ts';
import { defaultPublicUrl, type Settings } from '../settings.ts';
import type { PersistedRunSnapshot, RunDoc } from '../store/types.ts';

export interface InspectPluginOptions {
  /** Port of the local relay; 0 picks a free one. */
  port: number;
}

export interface InspectorInfo {
  /** The relay's actual port. */
  port: number;
  /** Where the relay listens, as its server reports it: HOST and the port. */
  address: AddressInfo;
  /** Where this server sends inspection events. */
  relayUrl: string;
  /** The page to open in a browser: the relay's bridge to the hosted Stately inspector. */
  openUrl: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    inspector: InspectorInfo;
  }
}

export const REDACTED = '<redacted>';
/** Shorter values are still redacted where they are header values, but not hunted for inside every string. */
const MIN_SCRUBBED_LENGTH = 6;
/** Credentials carried in URLs: Tether's own `sig=`, and the usual token parameters. */
const SECRET_PARAM = /([?&](?:sig|token|access_token|api_key|apikey)=)[^&#\s"'<>]+/gi;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/g;
const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi;

export function scrubString(s: string, secrets: readonly string[]): string {
  let out = s;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out.replace(SECRET_PARAM, `$1${REDACTED}`).replace(BEARER, `$1${REDACTED}`).replace(USERINFO, `$1${REDACTED}@`);
}

/** A deep copy of JSON data with every string (keys included) scrubbed. */
export function scrub<T>(value: T, secrets: readonly string[]): T {
  if (typeof value === 'string') return scrubString(value, secrets) as T;
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[scrubString(k, secrets)] = scrub(v, secrets);
    return out as T;
  }
  return value;
}

/** Everything of this run that must not leave: its header values, its attempts' signatures, the server's credentials. */
export function secretsOf(doc: Pick<RunDoc, 'id' | 'snapshot'>, signer: Signer, settings: Pick<Settings, 'apiToken' | 'secret'>): string[] {
  const ctx = doc.snapshot.context;
  const values = [settings.apiToken, settings.secret, ...Object.values(ctx.config.target.headers ?? {})];
  for (const a of ctx.attempts) values.push(signer.sign(doc.id, a.id, 'callback'), signer.sign(doc.id, a.id, 'heartbeat'));
  const long = values.filter((v): v is string => typeof v === 'string' && v.length >= MIN_SCRUBBED_LENGTH);
  // Longest first, so a secret containing another is replaced whole.
  return [...new Set(long)].sort((a, b) => b.length - a.length);
}

/** What the inspector is shown of a snapshot: state, status and a context with header values and secrets removed. */
export function inspectedSnapshot(s: PersistedRunSnapshot, secrets: readonly string[]) {
  const context = scrub({ ...s.context, config: redactConfig(s.context.config) }, secrets);
  return {
    status: s.status as 'active' | 'done' | 'error' | 'stopped',
    value: s.value,
    context,
    ...(s.output !== undefined ? { output: scrub(s.output, secrets) } : {}),
  };
}

/** The hosted inspector UI the bridge page embeds (the package's default). */
const INSPECTOR_UI = 'https://stately.ai/inspect';
/** Messages kept for a page opened late (the package's figure). */
const RELAY_BUFFER = 200;

/**
 * The bridge page: the hosted inspector in an iframe, fed with what the relay sends. As the package's, except that it
 * connects back to the address it was loaded from (`location.host`), not to a fixed `localhost`, so it works on
 * whatever HOST the relay listens on.
 */
const BRIDGE_HTML = `<!DOCTYPE html>
<html>
<head>
  <title>Stately Inspector</title>
  <style>
    * { margin: 0; padding: 0; }
    html, body { height: 100%; }
    iframe { width: 100%; height: 100%; border: none; }
  </style>
</head>
<body>
  <iframe id="inspector" src="${INSPECTOR_UI}"></iframe>
  <script>
    const iframe = document.getElementById('inspector');
    const buffer = [];
    let connected = false;
    window.addEventListener('message', (e) => {
      if (e.data && e.data.type === '@statelyai.connected') {
        connected = true;
        buffer.forEach((event) => iframe.contentWindow.postMessage(event, '*'));
        buffer.length = 0;
      }
    });
    const ws = new WebSocket('ws://' + location.host);
    ws.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (connected) iframe.contentWindow.postMessage(data, '*');
      else buffer.push(data);
    };
  </script>
</body>
</html>`;

/**
 * A WebSocket upgrade is taken from a non-browser client (no Origin: this server's own inspector client, a script) or
 * from the bridge page itself: its Origin is the Host it was loaded from, and that Host names this machine by address,
 * as `localhost` or as HOST — not a domain name an attacker's DNS could point here (DNS rebinding).
 */
export function relayClientAllowed(origin: string | undefined, hostHeader: string | undefined, host: string): boolean {
  if (origin === undefined) return true;
  if (!hostHeader) return false;
  let o: URL;
  let h: URL;
  try {
    o = new URL(origin);
    h = new URL(`http://${hostHeader}`);
  } catch {
    return false;
  }
  if (h.host !== hostHeader.toLowerCase() || o.protocol !== 'http:' || o.host !== h.host) return false;
  const name = h.hostname.replace(/^\[|\]$/g, '');
  return isIP(name) !== 0 || name === 'localhost' || name === host.toLowerCase();
}

interface Relay {
  address: AddressInfo;
  stop(): Promise<void>;
}

/**
 * Starts the relay on `host`:`port`. Its own listen is awaited, so a taken port is a start-up error with a message
 * naming the setting, not an uncaught exception (the package's relay listens without an error handler), and no probe
 * is needed to find out first.
 */
async function startRelay(host: string, port: number, onError: (e: Error) => void): Promise<Relay> {
  const http = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(BRIDGE_HTML);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => {
        http.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    throw new Error(`Stately inspector relay: cannot listen on HOST ${host}, TETHER_INSPECT_PORT ${port}: ${(e as Error).message}`);
  }
  // Attached once listening: ws re-emits the HTTP server's errors on itself, and a listen error has been dealt with above.
  const wss = new WebSocketServer({
    server: http,
    verifyClient: ({ origin, req }: { origin: string | undefined; req: IncomingMessage }) =>
      relayClientAllowed(origin || undefined, req.headers.host, host),
  });
  wss.on('error', onError);
  const buffer: string[] = [];
  wss.on('connection', (ws) => {
    ws.on('error', onError);
    for (const msg of buffer) ws.send(msg);
    ws.on('message', (data) => {
      const msg = data.toString();
      buffer.push(msg);
      if (buffer.length > RELAY_BUFFER) buffer.shift();
      for (const client of wss.clients) if (client !== ws && client.readyState === WebSocket.OPEN) client.send(msg);
    });
  });
  return {
    address: http.address() as AddressInfo,
    stop: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export default fp<InspectPluginOptions>(
  async function inspect(app: FastifyInstance, opts) {
    const { engine, signer, settings } = app.tether;
    const relay = await startRelay(settings.host, opts.port, (err) => app.log.error({ err }, 'Stately inspector relay error'));
    const { port } = relay.address;
    const { createWebSocketInspector } = await import('@statelyai/inspect');
    // The relay's own address as a client reaches it: 0.0.0.0 and :: are not addresses to connect to, IPv6 is bracketed.
    const local = defaultPublicUrl(settings.host, port).replace(/^http:/, '');
    const relayUrl = `ws:${local}`;
    // Events sent before the socket opens wait in the client; start-up announces every open run at once.
    const inspector = createWebSocketInspector({ url: relayUrl, maxDeferredEvents: 10_000 });
    app.decorate('inspector', { port, address: relay.address, relayUrl, openUrl: `http:${local}/` });
    app.log.warn(
      { host: settings.host, port },
      `Stately inspector relay listens on ${settings.host}:${port}: anyone who can reach it can read every run's snapshots and events (secrets are scrubbed)`,
    );

    /** The inspector reads `sessionId` and, to draw the machine, `logic.config`. */
    const actorOf = (runId: string): ActorRefLike & { logic: typeof runMachine } => ({
      sessionId: runId,
      logic: runMachine,
      send: () => {},
      getSnapshot: () => undefined,
    });
    const sessions = new Set<string>();
    const announce = (doc: Readonly<RunDoc>, snapshot: PersistedRunSnapshot, secrets: readonly string[]) => {
      sessions.add(doc.id);
      inspector.actor(actorOf(doc.id), inspectedSnapshot(snapshot, secrets));
    };

    // Runs resumed after a restart. The engine is paused and nothing listens yet, so no commit can slip in between.
    for (const summary of engine.allSummaries()) {
      if (isFinalRunStatus(summary.status)) continue;
      const doc = await engine.getDoc(summary.id);
      if (doc) announce(doc, doc.snapshot, secretsOf(doc, signer, settings));
    }

    const unsubscribe = engine.subscribe(({ doc, events }) => {
      // An update is one commit: one log entry, and `doc.snapshot` is the snapshot it committed.
      for (const entry of events) {
        if (entry.verdict !== 'applied' || !entry.event) continue;
        const secrets = secretsOf(doc, signer, settings);
        // A run first seen here is new: its session starts from the snapshot before this event (the initial one).
        if (!sessions.has(doc.id)) announce(doc, replayRun(doc, entry.seq - 1), secrets);
        const event = scrub(entry.event, secrets) as AnyEventObject;
        inspector.event(doc.id, event);
        inspector.snapshot(doc.id, inspectedSnapshot(doc.snapshot, secrets), { event });
      }
      if (doc.snapshot.status !== 'active') sessions.delete(doc.id);
    });

    app.addHook('onClose', async () => {
      unsubscribe();
      inspector.stop();
      await relay.stop();
    });
  },
  { name: 'tether-inspect', dependencies: ['tether'] },
);
