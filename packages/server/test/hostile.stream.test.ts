/**
 * The stream under hostile or careless clients, against a real listening server with real `ws` clients and small limits:
 * one client over TETHER_STREAM_MAX_CLIENTS is closed at once with 1013 and a reason; a client that stops reading is
 * closed with 1008 once its socket buffer plus coalesced backlog exceed TETHER_STREAM_MAX_BUFFER_BYTES, while the server
 * keeps serving everyone else; a client that is only moderately slow is coalesced, not dropped.
 */
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Run, StreamMessage } from '@tether/machine';
import { loggerOptions, type BuildOptions } from '../src/app.ts';
import { loadSettings, SettingsError, type Settings } from '../src/settings.ts';
import { within } from './helpers/async.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { startServer, type TestServer } from './helpers/http-app.ts';
import { StreamClient, openRawStream } from './helpers/http-ws.ts';

let ext: FakeExternalSystem | undefined;
let s: TestServer | undefined;
const sockets: WebSocket[] = [];
let logLines: string[] = [];

afterEach(async () => {
  for (const w of sockets.splice(0)) w.terminate();
  await s?.close();
  await ext?.close();
  s = ext = undefined;
});

async function start(settings: Partial<Settings>): Promise<TestServer> {
  ext = await new FakeExternalSystem().start();
  logLines = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = { ...(loggerOptions('warn', false) as object), stream } as BuildOptions['logger'];
  s = await startServer({ clock: new ManualClock(), logger, settings });
  return s;
}

const wsUrl = (query = '') => `${s!.base.replace(/^http/, 'ws')}/api/stream${query}`;

const open = (query = '') => openRawStream(wsUrl(query), sockets);

async function until(what: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !pred();) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

type Updated = Extract<StreamMessage, { type: 'run.updated' }>;
const updates = (m: StreamMessage[]): Run[] => m.filter((x): x is Updated => x.type === 'run.updated').map((x) => x.run);
/** Stops reading from the socket: the kernel buffers fill, then the server's socket buffer grows. */
const stopReading = (ws: WebSocket) => (ws as unknown as { _socket: Socket })._socket.pause();
const resumeReading = (ws: WebSocket) => (ws as unknown as { _socket: Socket })._socket.resume();

describe('TETHER_STREAM_MAX_CLIENTS', () => {
  it('closes the client over the cap at once with 1013 and a reason, sends it nothing, and frees the slot on close', async () => {
    await start({ streamMaxClients: 2 });
    const run = await s!.createRun({ target: { url: ext!.url } });
    // Both kinds of client count: a list watcher and a run subscriber.
    const a = await StreamClient.connect(wsUrl());
    const b = await StreamClient.connect(wsUrl(`?runId=${run.id}`));
    await a.waitFor('a snapshot', (m) => m.length >= 1);
    await b.waitFor('b snapshot', (m) => m.length >= 1);

    const over = open();
    // The upgrade itself succeeds (a browser sees the close code and reason; it would not see an HTTP status).
    await over.opened;
    const { code, reason } = await within(over.closed, 5_000, 'the client over the cap to be closed');
    expect(code).toBe(1013);
    expect(reason).toContain('TETHER_STREAM_MAX_CLIENTS');
    expect(over.messages).toEqual([]);

    // The clients within the cap are untouched.
    await s!.post(`/api/runs/${run.id}/cancel`, { json: {} });
    await a.waitFor('a sees the cancel', (m) => updates(m).some((r) => r.status === 'cancelled'));
    await b.waitFor('b sees the cancel', (m) => updates(m).some((r) => r.status === 'cancelled'));

    // Once one leaves, a new client gets in (the server notices the close a moment after the client does: retry).
    await b.close();
    let admitted: ReturnType<typeof open> | undefined;
    for (const end = Date.now() + 10_000; !admitted;) {
      const c = open();
      await c.opened;
      const first = await Promise.race([c.closed, until('a message', () => c.messages.length > 0).then(() => null)]);
      if (first === null) admitted = c;
      else if (Date.now() > end) throw new Error('no slot was freed');
      else expect(first.code).toBe(1013);
    }
    expect(admitted.messages[0]!.type).toBe('snapshot');
    await a.close();
  });
});

describe('TETHER_STREAM_MAX_BUFFER_BYTES', () => {
  // ~150 KB per run.updated (the Run carries its config, payload included), so a few runs overflow the kernel's socket
  // buffers (~4 MB on loopback) and then the limit.
  const payload = { blob: 'x'.repeat(150_000) };

  it('drops a client that stops reading with 1008 and a reason; the server keeps serving the others', async () => {
    const limit = 1 << 20;
    await start({ streamMaxBufferBytes: limit });
    const healthy = await StreamClient.connect(wsUrl());
    const stalled = open();
    await stalled.opened;
    await until('the stalled client’s snapshot', () => stalled.messages.length > 0);
    stopReading(stalled.ws);

    // Commit run after run (each a new backlog key, so coalescing cannot bound it) until the server drops it.
    const dropped = () => logLines.some((l) => l.includes('stream client dropped'));
    const created: Run[] = [];
    for (let i = 0; i < 200 && !dropped(); i++) {
      created.push(await s!.createRun({ name: `r${i}`, target: { url: ext!.url }, payload }));
      await s!.idle();
    }
    expect(dropped()).toBe(true);
    const logged = JSON.parse(logLines.find((l) => l.includes('stream client dropped'))!) as { pending: number; limit: number };
    expect(logged.limit).toBe(limit);
    expect(logged.pending).toBeGreaterThan(limit);

    // Read again: what was written before the drop arrives, then the close frame with the code and why.
    resumeReading(stalled.ws);
    const { code, reason } = await within(stalled.closed, 5_000, 'the dropped client to see its close frame');
    expect(code).toBe(1008);
    expect(reason).toMatch(/too slow: \d+ bytes waiting, over TETHER_STREAM_MAX_BUFFER_BYTES=1048576/);

    // The server still serves: the healthy client got every run's latest state, and a commit after the drop.
    const last = await s!.createRun({ name: 'after the drop', target: { url: ext!.url } });
    await healthy.waitFor('every run and the one after the drop', (m) => {
      const seen = new Set(updates(m).map((r) => r.id));
      return seen.has(last.id) && created.every((r) => seen.has(r.id));
    });
    // The dropped client never heard of it.
    expect(updates(stalled.messages).some((r) => r.id === last.id)).toBe(false);
    // And a new client connects and gets its snapshot.
    const again = await StreamClient.connect(wsUrl());
    await again.waitFor('a snapshot', (m) => m[0]?.type === 'snapshot');
    await again.close();
    await healthy.close();
  }, 60_000);

  it('only coalesces a moderately slow client (backlog under the limit): no drop, and it ends with every run’s latest state', async () => {
    await start({}); // the default limit, 8 MiB
    const healthy = await StreamClient.connect(wsUrl());
    const slow = open();
    await slow.opened;
    await until('the slow client’s snapshot', () => slow.messages.length > 0);
    stopReading(slow.ws);

    // 30 runs × ~3 commits × 150 KB ≈ 13 MB written, far past the kernel buffers; coalesced per run, the backlog stays
    // ≤ 30 × 150 KB, + ≤ 1 MiB in the socket buffer: under 8 MiB.
    const created: Run[] = [];
    for (let i = 0; i < 30; i++) created.push(await s!.createRun({ name: `r${i}`, target: { url: ext!.url }, payload }));
    await s!.idle();
    const latest = await Promise.all(created.map((r) => s!.run(r.id)));
    await healthy.waitFor('every run’s latest state', (m) =>
      latest.every((l) => updates(m).some((r) => r.id === l.id && r.updatedAt === l.updatedAt)),
    );

    resumeReading(slow.ws);
    await until(
      'the slow client to catch up',
      () => latest.every((l) => updates(slow.messages).some((r) => r.id === l.id && r.updatedAt === l.updatedAt)),
      20_000,
    );
    expect(logLines.some((l) => l.includes('stream client dropped'))).toBe(false);
    expect(slow.ws.readyState).toBe(WebSocket.OPEN);
    // It really was coalesced: it got fewer updates than the client that kept reading.
    expect(updates(slow.messages).length).toBeLessThan(updates(healthy.messages).length);
    await healthy.close();
  }, 60_000);
});

describe('the settings', () => {
  it('default to 10000 clients and 8 MiB, read the environment, and refuse what is not a sane integer', () => {
    expect(loadSettings({})).toMatchObject({ streamMaxClients: 10_000, streamMaxBufferBytes: 8 * 1024 * 1024 });
    expect(loadSettings({ TETHER_STREAM_MAX_CLIENTS: '50', TETHER_STREAM_MAX_BUFFER_BYTES: '262144' })).toMatchObject({
      streamMaxClients: 50,
      streamMaxBufferBytes: 262_144,
    });
    expect(() => loadSettings({ TETHER_STREAM_MAX_CLIENTS: '0' })).toThrow(SettingsError);
    expect(() => loadSettings({ TETHER_STREAM_MAX_CLIENTS: 'lots' })).toThrow(/TETHER_STREAM_MAX_CLIENTS/);
    // Below 64 KiB a single snapshot could not be buffered.
    expect(() => loadSettings({ TETHER_STREAM_MAX_BUFFER_BYTES: '1000' })).toThrow(/TETHER_STREAM_MAX_BUFFER_BYTES/);
  });
});
