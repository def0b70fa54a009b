/**
 * TETHER_INSPECT: a real Tether server streams its runs to the Stately inspector through the real local relay from
 * @statelyai/inspect/server; a real WebSocket client on loopback plays the browser's part and records every frame.
 * Time is a ManualClock, the external system a real HTTP server, callbacks real HTTP requests to the signed URLs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import { leafState, runMachine, type Run, type RunEventEntry } from '@tether/machine';
import { buildApp } from '../src/app.ts';
import { loadSettings } from '../src/settings.ts';
import { replayRun } from '../src/engine/replay.ts';
import type { RunDoc } from '../src/store/types.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';

const API_TOKEN = 'api-token-5f2c9e1d7b3a40aa';
const HMAC_SECRET = 'inspect-test-secret-0123456789abcdef';
const TARGET_TOKEN = 'target-secret-9d8c7b6a5f4e3d2c';
const HEADER_KEY = 'hdr-key-1a2b3c4d5e6f7a8b';
/** `X-Tenant` is too short to hunt for inside strings; as a header value it is still never shown. */
const HEADERS = { Authorization: `Bearer ${TARGET_TOKEN}`, 'X-Api-Key': HEADER_KEY, 'X-Tenant': 'abc' };
const REDACTED = '<redacted>';

/** A snapshot as this server hands it to the inspector. */
interface Inspected {
  status: string;
  value: unknown;
  context: Record<string, unknown>;
}
/** The frames on the relay (the package types a snapshot as `Snapshot<unknown>`, too loose to read). */
type Message =
  | { type: '@xstate.actor'; sessionId: string; name: string; definition?: string; snapshot: Inspected }
  | { type: '@xstate.event'; sessionId: string; event: { type: string; at: number } }
  | { type: '@xstate.snapshot'; sessionId: string; event: { type: string }; snapshot: Inspected };

/** The browser's side of the relay: every frame it is sent, raw and parsed. */
class Receiver {
  readonly frames: string[] = [];
  readonly messages: Message[] = [];
  private waiters: Array<() => void> = [];
  /** Listening from before the handshake: the relay replays its buffer in the same breath as it accepts us. */
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = data.toString();
      this.frames.push(text);
      this.messages.push(JSON.parse(text) as Message);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(port: number): Promise<Receiver> {
    const receiver = new Receiver(new WebSocket(`ws://127.0.0.1:${port}`));
    await new Promise<void>((resolve, reject) => {
      receiver.ws.once('open', () => resolve());
      receiver.ws.once('error', reject);
    });
    return receiver;
  }

  /** Resolves once `n` messages have arrived (the test timeout is the only clock here). */
  async waitFor(n: number): Promise<void> {
    while (this.messages.length < n) await new Promise<void>((r) => this.waiters.push(r));
  }

  session(runId: string): Message[] {
    return this.messages.filter((m) => m.sessionId === runId);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((r) => {
      this.ws.once('close', () => r());
      this.ws.close();
    });
  }
}

interface Server {
  app: FastifyInstance;
  base: string;
  receiver: Receiver;
  close(): Promise<void>;
}

async function startServer(dataDir: string, clock: ManualClock): Promise<Server> {
  const settings = loadSettings(
    { TETHER_SECRET: HMAC_SECRET, TETHER_API_TOKEN: API_TOKEN, TETHER_INSPECT: '1', TETHER_INSPECT_PORT: '0' },
    { port: 0, dataDir, dashboardDir: '/nonexistent' },
  );
  const app = await buildApp({ settings, clock });
  const receiver = await Receiver.connect(app.inspector.port);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return {
    app,
    base,
    receiver,
    close: async () => {
      await app.close();
      await receiver.close();
    },
  };
}

async function api<T>(s: Server, method: string, path: string, json?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${s.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** The external system calling back: a plain POST to the URL it was handed. */
async function post(url: string, json: unknown): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) });
  await res.arrayBuffer();
  return res.status;
}

const sigOf = (url: string): string => new URL(url).searchParams.get('sig')!;

/**
 * `actual` is `stored` with secrets cut out: equal everywhere, except strings in which `<redacted>` stands for a
 * non-empty part of the stored string.
 */
function expectRedactedCopy(actual: unknown, stored: unknown, path = '$'): void {
  if (typeof actual === 'string' && typeof stored === 'string' && actual.includes(REDACTED)) {
    const pattern = actual
      .split(REDACTED)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.+');
    expect(stored, path).toMatch(new RegExp(`^${pattern}$`, 's'));
    return;
  }
  if (Array.isArray(stored)) {
    expect(Array.isArray(actual), path).toBe(true);
    expect((actual as unknown[]).length, path).toBe(stored.length);
    stored.forEach((v, i) => expectRedactedCopy((actual as unknown[])[i], v, `${path}[${i}]`));
    return;
  }
  if (stored !== null && typeof stored === 'object') {
    expect(actual, path).toBeTypeOf('object');
    expect(Object.keys(actual as object).sort(), path).toEqual(Object.keys(stored).sort());
    for (const [k, v] of Object.entries(stored)) expectRedactedCopy((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
    return;
  }
  expect(actual, path).toEqual(stored);
}

const applied = (doc: RunDoc): RunEventEntry[] => doc.events.filter((e) => e.verdict === 'applied');

/** One session's messages are: its actor, then for every applied entry its event and the snapshot it committed. */
function expectSession(messages: Message[], doc: RunDoc, entries: RunEventEntry[], startSeq: number): void {
  const [actor, ...rest] = messages;
  expect(actor!.type).toBe('@xstate.actor');
  expect(messages.filter((m) => m.type === '@xstate.actor')).toHaveLength(1);
  if (actor!.type !== '@xstate.actor') return;
  // The machine is the session's logic: the inspector gets its definition to draw it.
  const definition = JSON.parse(actor!.definition!) as { id: string; initial: string; states: Record<string, unknown> };
  expect(definition.id).toBe('run');
  expect(definition.initial).toBe('idle');
  expect(Object.keys(definition.states).sort()).toEqual(Object.keys(runMachine.config.states!).sort());
  // Whole, not cut at the package's serialisation depth: the deepest parts (guards of nested `after`) are there.
  expect(actor!.definition).toContain('"attemptTimerDue"');
  expect(actor!.definition).not.toMatch(/"\[(Object|Array)\]"/);
  const announced = replayRun(doc, startSeq);
  expect(actor!.snapshot.value).toEqual(announced.value);
  expectRedactedCopy(actor!.snapshot.context, announced.context, 'actor.context');

  expect(rest.map((m) => m.type)).toEqual(entries.flatMap(() => ['@xstate.event', '@xstate.snapshot']));
  entries.forEach((entry, i) => {
    const ev = rest[2 * i]!;
    const snap = rest[2 * i + 1]!;
    if (ev.type !== '@xstate.event' || snap.type !== '@xstate.snapshot') throw new Error('pair out of order');
    expectRedactedCopy(ev.event, entry.event, `event ${entry.seq}`);
    expect(snap.event.type).toBe(entry.type);
    // The snapshot the server stored at that point: its log's leaf state, and the full snapshot replayed to that entry.
    const stored = replayRun(doc, entry.seq);
    expect(leafState(snap.snapshot.value)).toBe(entry.stateAfter);
    expect(snap.snapshot.value).toEqual(stored.value);
    expect(snap.snapshot.status).toBe(stored.status);
    expectRedactedCopy(snap.snapshot.context, stored.context, `snapshot ${entry.seq}`);
  });
}

function expectNoSecrets(frames: string[], signatures: string[]): void {
  const traffic = frames.join('\n');
  expect(traffic.length).toBeGreaterThan(0);
  for (const secret of [API_TOKEN, HMAC_SECRET, TARGET_TOKEN, HEADER_KEY, ...signatures]) expect(traffic).not.toContain(secret);
  expect(traffic).not.toMatch(/sig=(?!<redacted>)/);
  expect(signatures.length).toBeGreaterThan(0);
}

describe('Stately inspector (TETHER_INSPECT)', () => {
  let dataDir: string;
  let ext: FakeExternalSystem;
  let clock: ManualClock;
  let server: Server | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tether-inspect-'));
    ext = await new FakeExternalSystem().start();
    clock = new ManualClock();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await ext.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('streams the seed scenario: one session per run, every applied event and its stored snapshot, in commit order, no secret', async () => {
    server = await startServer(dataDir, clock);
    const s = server;
    const engine = s.app.tether.engine;

    // The seed: attempt 1 gets no callback and times out; attempt 2 is called back and succeeds; then the late,
    // duplicate, conflicting and forged callbacks the seed mishandled. The external system echoes what it was given.
    const created = await api<Run>(s, 'POST', '/api/runs', {
      name: 'seed',
      target: { url: ext.url, headers: HEADERS },
      payload: { job: 42 },
      timeoutSeconds: 60,
      retryLimit: 4,
    });
    expect(created.status).toBe(201);
    const runId = created.body.id;
    const t1 = await ext.waitFor(1);
    expect(t1.headers.authorization).toBe(`Bearer ${TARGET_TOKEN}`);
    await engine.idle();
    clock.advance(60_000);
    await engine.idle();
    clock.advance(1_000);
    const t2 = await ext.waitFor(2);
    await engine.idle();
    expect(await post(t2.body.heartbeatUrl, { progress: { pct: 50, note: `using ${t2.body.heartbeatUrl} and ${HEADERS.Authorization}` } })).toBe(200);
    const sig2 = sigOf(t2.body.callbackUrl);
    const success = {
      success: true,
      message: `done; called back on ${t2.body.callbackUrl} (signature ${sig2}) with ${HEADERS.Authorization} / ${HEADER_KEY}`,
    };
    expect(await post(t2.body.callbackUrl, success)).toBe(200);
    expect(await post(t1.body.callbackUrl, { success: true })).toBe(410);
    expect(await post(t2.body.callbackUrl, success)).toBe(200);
    expect(await post(t2.body.callbackUrl, { success: false })).toBe(409);
    expect(await post(t2.body.callbackUrl.replace(/sig=[^&]+/, 'sig=forged'), { success: true })).toBe(401);

    // A second run, cancelled by an operator who pastes the API token into the reason.
    const other = await api<Run>(s, 'POST', '/api/runs', {
      name: 'other',
      target: { url: ext.url, headers: HEADERS },
      timeoutSeconds: 30,
      retryLimit: 0,
    });
    await ext.waitFor(3);
    await engine.idle();
    expect((await api<Run>(s, 'POST', `/api/runs/${other.body.id}/cancel`, { reason: `ops, token ${API_TOKEN}` })).status).toBe(200);
    await engine.idle();

    const docs = [(await engine.getDoc(runId))!, (await engine.getDoc(other.body.id))!];
    // The secrets really are in what the server stores: the scrubbing below has something to remove.
    expect(JSON.stringify(docs[0])).toContain(TARGET_TOKEN);
    expect(JSON.stringify(docs[0])).toContain(sigOf(t2.body.callbackUrl));
    expect(JSON.stringify(docs[1])).toContain(API_TOKEN);
    expect(applied(docs[0]!).map((e) => e.type)).toEqual([
      'run.start',
      'trigger.succeeded',
      'xstate.after.attemptTimeout.run.attempt.awaitingCallback',
      'xstate.after.retryBackoff.run.retrying',
      'trigger.succeeded',
      'heartbeat.received',
      'callback.received',
    ]);
    expect(applied(docs[1]!).map((e) => e.type)).toEqual(['run.start', 'trigger.succeeded', 'run.cancel']);

    const shown = await Promise.all(docs.map(async (d) => (await api<Run>(s, 'GET', `/api/runs/${d.id}`)).body));
    const expected = docs.reduce((n, d) => n + 1 + 2 * applied(d).length, 0);
    await s.receiver.waitFor(expected);
    await s.close();
    server = undefined;
    const { messages, frames } = s.receiver;
    expect(messages).toHaveLength(expected);

    // One session per run, nothing else on the wire.
    expect(new Set(messages.map((m) => m.sessionId))).toEqual(new Set([runId, other.body.id]));
    for (const doc of docs) expectSession(s.receiver.session(doc.id), doc, applied(doc), 0);

    // Commit order across runs: the machine events' own times never go back.
    const times = messages.flatMap((m) => (m.type === '@xstate.event' ? [m.event.at] : []));
    expect(times).toEqual([...times].sort((a, b) => a - b));

    // The last snapshot of each session is the run as stored and as the API shows it.
    docs.forEach((doc, i) => {
      const last = s.receiver.session(doc.id).at(-1)!;
      if (last.type !== '@xstate.snapshot') throw new Error('last message is not a snapshot');
      expect(last.snapshot.value).toEqual(doc.snapshot.value);
      expect(leafState(last.snapshot.value)).toBe(shown[i]!.state);
      expect(last.snapshot.status).toBe('done');
      expectRedactedCopy(last.snapshot.context, doc.snapshot.context);
      expect((last.snapshot.context as { config: { target: { headers: unknown } } }).config.target.headers).toEqual({
        Authorization: REDACTED,
        'X-Api-Key': REDACTED,
        'X-Tenant': REDACTED,
      });
    });
    expect(docs.map((d) => leafState(d.snapshot.value))).toEqual(['succeeded', 'cancelled']);

    const signatures = ext.received.flatMap((t) => [sigOf(t.body.callbackUrl), sigOf(t.body.heartbeatUrl)]);
    expectNoSecrets(frames, signatures);
  });

  it('announces runs resumed after a restart with their stored snapshot, then streams what happens next', async () => {
    const first = await startServer(dataDir, clock);
    server = first;
    let engine = first.app.tether.engine;
    const open = await api<Run>(first, 'POST', '/api/runs', {
      name: 'open',
      target: { url: ext.url, headers: HEADERS },
      timeoutSeconds: 60,
      retryLimit: 1,
    });
    await ext.waitFor(1);
    await engine.idle();
    const done = await api<Run>(first, 'POST', '/api/runs', {
      name: 'done',
      target: { url: ext.url, headers: HEADERS },
      timeoutSeconds: 60,
      retryLimit: 0,
    });
    const t = await ext.waitFor(2);
    await engine.idle();
    expect(await post(t.body.callbackUrl, { success: true })).toBe(200);
    await engine.idle();
    const before = (await engine.getDoc(open.body.id))!;
    expect(leafState(before.snapshot.value)).toBe('awaitingCallback');
    const lastSeqBefore = before.events.at(-1)!.seq;
    await first.close();

    // The same data dir, the same (moved on) clock: the open run resumes with its timer re-armed.
    const second = await startServer(dataDir, clock);
    server = second;
    engine = second.app.tether.engine;
    // Announced at start-up, before anything happens to it.
    await second.receiver.waitFor(1);
    expect(second.receiver.messages[0]).toMatchObject({ type: '@xstate.actor', sessionId: open.body.id });
    clock.advance(60_000);
    await engine.idle();
    clock.advance(1_000);
    const t3 = await ext.waitFor(3);
    expect(t3.body.runId).toBe(open.body.id);
    expect(t3.body.attempt).toBe(2);
    await engine.idle();
    expect(await post(t3.body.callbackUrl, { success: true, message: `ok ${HEADERS.Authorization}` })).toBe(200);
    await engine.idle();

    const doc = (await engine.getDoc(open.body.id))!;
    const after = applied(doc).filter((e) => e.seq > lastSeqBefore);
    expect(after.map((e) => e.type)).toEqual([
      'xstate.after.attemptTimeout.run.attempt.awaitingCallback',
      'xstate.after.retryBackoff.run.retrying',
      'trigger.succeeded',
      'callback.received',
    ]);
    const expected = 1 + 2 * after.length;
    await second.receiver.waitFor(expected);
    await second.close();
    server = undefined;
    const { messages, frames } = second.receiver;
    expect(messages).toHaveLength(expected);
    // Only the open run is announced; the finished one is not a live session any more.
    expect(new Set(messages.map((m) => m.sessionId))).toEqual(new Set([open.body.id]));
    expect(messages.some((m) => m.sessionId === done.body.id)).toBe(false);
    // Announced with the snapshot stored before the restart (no applied event in between: the recovery marker is host-side).
    const actor = messages[0]!;
    if (actor.type !== '@xstate.actor') throw new Error('first message is not the actor');
    expect(actor.snapshot.value).toEqual(before.snapshot.value);
    expectRedactedCopy(actor.snapshot.context, before.snapshot.context);
    expectSession(messages, doc, after, lastSeqBefore);
    expect(leafState(doc.snapshot.value)).toBe('succeeded');

    expectNoSecrets(
      frames,
      ext.received.flatMap((r) => [sigOf(r.body.callbackUrl), sigOf(r.body.heartbeatUrl)]),
    );
  });

  it('costs nothing when off: no relay, no inspector decoration', async () => {
    const settings = loadSettings({ TETHER_SECRET: HMAC_SECRET }, { port: 0, dataDir, dashboardDir: '/nonexistent' });
    expect(settings.inspect).toBe(false);
    const app = await buildApp({ settings, clock });
    try {
      expect(app.hasDecorator('inspector')).toBe(false);
      expect(app.hasPlugin('tether-inspect')).toBe(false);
    } finally {
      await app.close();
    }
  });

  it('refuses to start with a clear message when TETHER_INSPECT_PORT is taken (the relay itself would crash the process)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const settings = loadSettings(
        { TETHER_SECRET: HMAC_SECRET, TETHER_INSPECT: '1', TETHER_INSPECT_PORT: String(port) },
        { port: 0, dataDir, dashboardDir: '/nonexistent' },
      );
      await expect(buildApp({ settings, clock })).rejects.toThrow(new RegExp(`TETHER_INSPECT_PORT ${port}: .*EADDRINUSE`));
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('reads TETHER_INSPECT and TETHER_INSPECT_PORT, and names them when wrong', () => {
    expect(loadSettings({}).inspectPort).toBe(8080);
    expect(loadSettings({ TETHER_INSPECT: 'on', TETHER_INSPECT_PORT: '9090' })).toMatchObject({ inspect: true, inspectPort: 9090 });
    expect(() => loadSettings({ TETHER_INSPECT: 'maybe' })).toThrow(/TETHER_INSPECT/);
    expect(() => loadSettings({ TETHER_INSPECT_PORT: '70000' })).toThrow(/TETHER_INSPECT_PORT/);
  });
});

/** This machine's addresses that are not loopback (link-local IPv6 left out: it needs a scope to connect to). */
const otherInterfaces = (): string[] =>
  Object.values(networkInterfaces())
    .flat()
    .flatMap((a) => (a && !a.internal && !a.address.toLowerCase().startsWith('fe80') ? [a.address] : []));

/** A plain TCP connection attempt: `connected`, or the error code (a local address with no listener refuses at once). */
const connectOutcome = (host: string, port: number): Promise<string> =>
  new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });

/** The status a WebSocket upgrade to the relay gets: 101 when taken. */
const upgradeStatus = (url: string, opts: { origin?: string; headers?: Record<string, string> } = {}): Promise<number> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ...(opts.origin ? { origin: opts.origin } : {}), ...(opts.headers ? { headers: opts.headers } : {}) });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      resolve(res.statusCode ?? -1);
    });
    ws.once('error', (e) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(e);
    });
  });

describe('the inspector relay listens on HOST', () => {
  let dataDir: string;
  let app: FastifyInstance | undefined;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tether-inspect-host-'));
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await rm(dataDir, { recursive: true, force: true });
  });
  const build = async (env: Record<string, string> = {}) => {
    const settings = loadSettings(
      { TETHER_SECRET: HMAC_SECRET, TETHER_INSPECT: '1', TETHER_INSPECT_PORT: '0', ...env },
      { port: 0, dataDir, dashboardDir: '/nonexistent' },
    );
    app = await buildApp({ settings, clock: new ManualClock() });
    return app;
  };

  it('loopback by default: the relay listens on 127.0.0.1, and this machine’s other interfaces are refused', async () => {
    const a = await build();
    expect(a.tether.settings.host).toBe('127.0.0.1');
    const { port, address, relayUrl, openUrl } = a.inspector;
    expect(address).toMatchObject({ address: '127.0.0.1', family: 'IPv4', port });
    expect(relayUrl).toBe(`ws://127.0.0.1:${port}`);
    expect(openUrl).toBe(`http://127.0.0.1:${port}/`);
    expect(await connectOutcome('127.0.0.1', port)).toBe('connected');
    for (const other of otherInterfaces()) expect(await connectOutcome(other, port), other).toBe('ECONNREFUSED');
  });

  it.skipIf(!otherInterfaces().some((x) => !x.includes(':')))('on another interface when HOST names it, and then not on loopback', async () => {
    const other = otherInterfaces().find((x) => !x.includes(':'))!;
    const a = await build({ HOST: other });
    const { port, address, relayUrl } = a.inspector;
    expect(address.address).toBe(other);
    expect(relayUrl).toBe(`ws://${other}:${port}`);
    expect(await connectOutcome(other, port)).toBe('connected');
    expect(await connectOutcome('127.0.0.1', port)).toBe('ECONNREFUSED');
  });

  it('serves the bridge page, and takes WebSocket upgrades only from it or from non-browser clients, not from other web origins', async () => {
    const a = await build();
    const { port } = a.inspector;
    const url = `ws://127.0.0.1:${port}`;
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('<iframe id="inspector" src="https://stately.ai/inspect">');
    expect(html).toContain("new WebSocket('ws://' + location.host)");

    expect(await upgradeStatus(url)).toBe(101);
    expect(await upgradeStatus(url, { origin: `http://127.0.0.1:${port}` })).toBe(101);
    expect(await upgradeStatus(`ws://localhost:${port}`, { origin: `http://localhost:${port}` })).toBe(101);
    // A page elsewhere that the browser has open, and the same page after pointing its DNS name at this machine.
    expect(await upgradeStatus(url, { origin: 'https://evil.example' })).toBe(401);
    expect(await upgradeStatus(url, { origin: `http://localhost:${port}` })).toBe(401);
    expect(await upgradeStatus(url, { origin: `http://evil.example:${port}`, headers: { host: `evil.example:${port}` } })).toBe(401);
  });
});
