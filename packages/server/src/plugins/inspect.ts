/**
 * Streams every run to the Stately inspector (TETHER_INSPECT=1 or `--inspect`). Loaded by app.ts with a dynamic import
 * only when on, so a server without it never loads @statelyai/inspect.
 *
 * Wiring: the local relay from `@statelyai/inspect/server` serves a bridge page (an iframe of https://stately.ai/inspect)
 * and relays WebSocket messages to it; `createWebSocketInspector` is our client of that relay. Each run is one inspector
 * session (`sessionId` = run id, the machine as its logic); every applied event is sent with the snapshot it committed,
 * from the engine's post-commit notification, so the inspector sees commit order. Runs still open at start-up are
 * announced with their current snapshot.
 *
 * Nothing secret leaves: target header values, the API token, the HMAC secret and callback signatures are scrubbed from
 * contexts and events (wherever they appear, e.g. echoed back in a callback message) before they are handed over.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ActorRefLike, AnyEventObject } from 'xstate';
import { isFinalRunStatus, redactConfig, runMachine } from '@tether/machine';
import { replayRun } from '../engine/replay.ts';
import type { Signer } from '../engine/signer.ts';
import type { Settings } from '../settings.ts';
import type { PersistedRunSnapshot, RunDoc } from '../store/types.ts';

export interface InspectPluginOptions {
  /** Port of the local relay; 0 picks a free one. */
  port: number;
}

export interface InspectorInfo {
  /** The relay's actual port. */
  port: number;
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

/** Binds and releases the port first: the relay's own bind error would be an uncaught exception, this one is a message. */
async function claimPort(port: number): Promise<number> {
  const probe = createServer();
  try {
    // No host, like the relay: it listens on all interfaces.
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, resolve);
    });
  } catch (e) {
    throw new Error(`Stately inspector relay: cannot listen on TETHER_INSPECT_PORT ${port}: ${(e as Error).message}`);
  }
  const actual = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return actual;
}

export default fp<InspectPluginOptions>(
  async function inspect(app: FastifyInstance, opts) {
    const { engine, signer, settings } = app.tether;
    const port = await claimPort(opts.port);
    const [{ createInspectorServer }, { createWebSocketInspector }] = await Promise.all([
      import('@statelyai/inspect/server'),
      import('@statelyai/inspect'),
    ]);
    const relay = createInspectorServer({ port, autoOpen: false });
    const relayUrl = `ws://127.0.0.1:${port}`;
    // Events sent before the socket opens wait in the client; start-up announces every open run at once.
    const inspector = createWebSocketInspector({ url: relayUrl, maxDeferredEvents: 10_000 });
    app.decorate('inspector', { port, relayUrl, openUrl: `http://localhost:${port}/` });
    app.log.warn(
      { port },
      'Stately inspector relay (@statelyai/inspect/server) listens on all interfaces: anyone who can reach this port sees the runs (secrets are scrubbed)',
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
      relay.stop();
    });
  },
  { name: 'tether-inspect', dependencies: ['tether'] },
);
