/**
 * WebSocket `GET /api/stream[?runId=]`.
 *
 * - Without `runId` (a list watcher, the runs page): a `snapshot` of up to 1000 summaries on connect, then `run.updated`
 *   after every commit of any run.
 * - With `runId` (the run page): a `snapshot` holding only that run's summary (none if it does not exist), then only
 *   that run's `run.updated` and `run.event` messages. The run page reads its run over HTTP and never used the list or
 *   other runs' updates, and sending them made every commit cost O(all clients).
 * - Everyone: `ping` every 20 s.
 *
 * Bounded amplification:
 * - A commit costs O(subscribers of that run + list watchers): clients are indexed by run id.
 * - Each message is encoded once, straight into a WebSocket frame, and the frames of the commits since the last
 *   broadcast are concatenated once per audience (list watchers; each run's subscribers): a broadcast is one socket
 *   write of shared bytes per client, whatever the number of commits in it. The write, not the encoding, is the cost
 *   (~10 µs per loopback socket: 50 ms for 5,000 clients), so broadcasts run after the commit, and one that took d ms
 *   is followed by at least d ms for everything else: with many clients, commits keep going and batch up instead of
 *   each waiting for 5,000 writes. With few clients d is tiny and updates go out on the next turn.
 * - At most `TETHER_STREAM_MAX_CLIENTS` clients. One more has its upgrade accepted and is closed at once with 1013 "try
 *   again later" and a reason: a browser cannot see the HTTP status of a refused upgrade (it only gets 1006, no reason),
 *   but it does see a close code and reason.
 * - A slow client does not slow the engine: once its socket buffers more than `slowBytes`, updates coalesce per run
 *   (latest wins) until it drains. With many runs that backlog still grows, so once socket buffer + backlog exceed
 *   `TETHER_STREAM_MAX_BUFFER_BYTES` the client is closed with 1008 and a reason; it may reconnect and get a snapshot.
 */
import type { Socket } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import type { StreamMessage } from '@tether/machine/protocol';
import { requireToken } from '../../plugins/auth.ts';

/** Socket buffer beyond which a client's updates coalesce instead of being written (capped by half the drop limit). */
const SLOW_BYTES = 1 << 20;
const PING_MS = 20_000;
const SNAPSHOT_RUNS = 1000;
/**
 * How long a closed (refused or dropped) client may take to answer our close frame before its socket is destroyed. A
 * client that never reads never answers, and ws would otherwise hold its socket and buffered bytes for 30 s.
 */
const CLOSE_GRACE_MS = 5_000;
/** The longest a commit's broadcast is held back so that the next ones join it (see `nextAt`). */
const MAX_HOLD_MS = 500;

/** One message, as the frame bytes to write; `key` is what it coalesces under for a slow client. */
interface Entry {
  key: string;
  frame: Buffer;
}

interface Client {
  socket: WebSocket;
  /** The TCP socket under it, written to directly with pre-built frames (see `frameOf`). */
  raw: Socket;
  runId: string | null;
  /** Coalesced messages for a slow client, keyed by run (and event seq for run.event). */
  backlog: Map<string, Buffer>;
  /** Sum of the backlog's byte lengths. */
  backlogBytes: number;
  /** Left the indexes (closed, errored, refused or dropped): nothing more is delivered to it. */
  gone: boolean;
}

/**
 * A message as one unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2; a server never masks). Built once and
 * written as is to every client's socket: `ws.send` would frame it again per client and cost two writes each. ws's
 * own frames (pings, close) go through the same socket in order; without permessage-deflate (off in ws by default and
 * here) its sender never holds frames back, so ours cannot overtake or split them.
 */
function frameOf(m: StreamMessage): Buffer {
  const text = JSON.stringify(m);
  const n = Buffer.byteLength(text);
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const f = Buffer.allocUnsafe(head + n);
  f[0] = 0x81; // FIN + opcode 1 (text)
  if (n < 126) f[1] = n;
  else if (n < 65_536) {
    f[1] = 126;
    f.writeUInt16BE(n, 2);
  } else {
    f[1] = 127;
    f.writeBigUInt64BE(BigInt(n), 2);
  }
  f.write(text, head, 'utf8');
  return f;
}

/** ws keeps the TCP socket as `_socket` (its name since ws 1.x); there is no public accessor. */
const rawOf = (ws: WebSocket): Socket => (ws as unknown as { _socket: Socket })._socket;

const stream: FastifyPluginAsync = async (app) => {
  const { engine, settings } = app.tether;
  const maxClients = settings.streamMaxClients;
  const maxBuffer = settings.streamMaxBufferBytes;
  // With a small drop limit, coalescing must still start before it, or a moderately slow client is dropped outright.
  const slowBytes = Math.min(SLOW_BYTES, Math.floor(maxBuffer / 2));

  /** Clients without runId: they get every run.updated. */
  const listWatchers = new Set<Client>();
  /** Clients with runId, by run: a commit reaches only its own run's subscribers. */
  const byRun = new Map<string, Set<Client>>();
  /** Clients with a backlog, so the drain check is O(slow clients), not O(all) every 100 ms. */
  const slow = new Set<Client>();
  let connected = 0;
  app.tether.streamClients = () => connected;

  const add = (c: Client) => {
    connected++;
    if (c.runId === null) {
      listWatchers.add(c);
      return;
    }
    let subs = byRun.get(c.runId);
    if (!subs) byRun.set(c.runId, (subs = new Set()));
    subs.add(c);
  };

  const remove = (c: Client) => {
    if (c.gone) return;
    c.gone = true;
    connected--;
    slow.delete(c);
    c.backlog.clear();
    c.backlogBytes = 0;
    if (c.runId === null) {
      listWatchers.delete(c);
      return;
    }
    const subs = byRun.get(c.runId);
    subs?.delete(c);
    if (subs && !subs.size) byRun.delete(c.runId);
  };

  /** Close with a reason, and destroy the socket if the peer does not complete the close handshake in time. */
  const closeSoon = (socket: WebSocket, code: number, reason: string) => {
    socket.close(code, reason);
    const t = setTimeout(() => socket.terminate(), CLOSE_GRACE_MS);
    t.unref();
    socket.once('close', () => clearTimeout(t));
  };

  const dropSlow = (c: Client) => {
    const pending = c.socket.bufferedAmount + c.backlogBytes;
    remove(c);
    app.log.warn({ runId: c.runId, pending, limit: maxBuffer }, 'stream client dropped: reading too slowly');
    // ≤ 123 bytes, the most a close reason may hold.
    closeSoon(c.socket, 1008, `too slow: ${pending} bytes waiting, over TETHER_STREAM_MAX_BUFFER_BYTES=${maxBuffer}`);
  };

  /** `bytes` is `entries`' frames concatenated, shared by every client of the same audience. */
  const deliver = (c: Client, entries: readonly Entry[], bytes: Buffer) => {
    if (c.gone || c.socket.readyState !== c.socket.OPEN) return;
    if (c.backlog.size || c.socket.bufferedAmount > slowBytes) {
      slow.add(c);
      for (const { key, frame } of entries) {
        const old = c.backlog.get(key);
        if (old) c.backlogBytes -= old.length;
        c.backlog.set(key, frame);
        c.backlogBytes += frame.length;
      }
      // Coalescing bounds the backlog by one message per run, which is still unbounded with many runs.
      if (c.socket.bufferedAmount + c.backlogBytes > maxBuffer) dropSlow(c);
      return;
    }
    c.raw.write(bytes);
  };

  const drainSlow = () => {
    for (const c of slow) {
      if (c.socket.bufferedAmount > slowBytes) continue;
      const pending = [...c.backlog.values()];
      c.backlog.clear();
      c.backlogBytes = 0;
      slow.delete(c);
      if (c.socket.readyState !== c.socket.OPEN) continue;
      // One writev for the whole backlog.
      c.raw.cork();
      for (const frame of pending) c.raw.write(frame);
      c.raw.uncork();
    }
  };

  // What the commits since the last broadcast have to say, in commit order: to list watchers, and to each run's
  // subscribers. Bounded by the commits of one broadcast's duration.
  let listBatch: Entry[] = [];
  let runBatches = new Map<string, Entry[]>();
  let pending: { timer: NodeJS.Timeout } | { immediate: NodeJS.Immediate } | null = null;
  /**
   * Earliest start of the next broadcast: a broadcast that took d ms leaves the next d ms (at most MAX_HOLD_MS, which
   * bounds the added latency) to everything else.
   */
  let nextAt = 0;

  const broadcast = () => {
    pending = null;
    const t0 = performance.now();
    const list = listBatch;
    const runs = runBatches;
    listBatch = [];
    runBatches = new Map();
    if (list.length && listWatchers.size) {
      const bytes = list.length === 1 ? list[0]!.frame : Buffer.concat(list.map((e) => e.frame));
      for (const c of listWatchers) deliver(c, list, bytes);
    }
    for (const [runId, entries] of runs) {
      const subs = byRun.get(runId);
      if (!subs) continue;
      const bytes = entries.length === 1 ? entries[0]!.frame : Buffer.concat(entries.map((e) => e.frame));
      for (const c of subs) deliver(c, entries, bytes);
    }
    const t1 = performance.now();
    nextAt = t1 + Math.min(t1 - t0, MAX_HOLD_MS);
  };

  const schedule = () => {
    if (pending) return;
    const wait = nextAt - performance.now();
    // The next turn at the earliest, so the commits of one turn (a group commit) go out in one write per client.
    pending = wait > 1 ? { timer: setTimeout(broadcast, wait) } : { immediate: setImmediate(broadcast) };
  };

  // The connect snapshot (up to 1000 summaries, ~400 KB of JSON) is the same for every list watcher until the next
  // commit: built once and shared, so 100 clients connecting together do not block the loop for 100 serialisations (B6/B7).
  let listSnapshot: Buffer | null = null;
  const snapshotOf = (runs: Extract<StreamMessage, { type: 'snapshot' }>['runs']) =>
    frameOf({ type: 'snapshot', bootId: engine.bootId, startedAt: new Date(engine.startedAt).toISOString(), runs });
  const snapshotFor = (runId: string | null): Buffer => {
    if (runId === null) return (listSnapshot ??= snapshotOf(engine.listRuns({ limit: SNAPSHOT_RUNS }).runs));
    // One small summary: not worth caching.
    const summary = engine.getSummary(runId);
    return snapshotOf(summary ? [summary] : []);
  };

  const unsubscribe = engine.subscribe((u) => {
    listSnapshot = null;
    const runId = u.summary.id;
    const subs = byRun.get(runId);
    // `u.run` is built on first read: a commit nobody watches does not pay for the view or its encoding.
    if (!listWatchers.size && !subs) return;
    // The summary rides along: list clients show it as is, and never re-derive a list line from the run.
    const updated: Entry = { key: `u:${runId}`, frame: frameOf({ type: 'run.updated', run: u.run, summary: u.summary }) };
    if (listWatchers.size) listBatch.push(updated);
    if (subs) {
      let batch = runBatches.get(runId);
      if (!batch) runBatches.set(runId, (batch = []));
      batch.push(updated);
      for (const event of u.events) batch.push({ key: `e:${runId}:${event.seq}`, frame: frameOf({ type: 'run.event', runId, event }) });
    }
    schedule();
  });

  const timer = setInterval(drainSlow, 100);
  timer.unref();
  const each = (fn: (c: Client) => void) => {
    for (const c of listWatchers) fn(c);
    for (const subs of byRun.values()) for (const c of subs) fn(c);
  };
  const ping = setInterval(() => {
    const entry: Entry[] = [{ key: 'ping', frame: frameOf({ type: 'ping', at: new Date().toISOString() }) }];
    each((c) => {
      if (c.socket.readyState !== c.socket.OPEN) return;
      c.socket.ping();
      deliver(c, entry, entry[0]!.frame);
    });
  }, PING_MS);
  ping.unref();

  app.addHook('onClose', async () => {
    unsubscribe();
    clearInterval(timer);
    clearInterval(ping);
    if (pending) {
      if ('timer' in pending) clearTimeout(pending.timer);
      else clearImmediate(pending.immediate);
      broadcast();
    }
    const all: Client[] = [];
    each((c) => all.push(c));
    for (const c of all) {
      remove(c);
      c.socket.close(1001, 'server stopping');
    }
  });

  // The stream's operation in the OpenAPI document. Documentation only: no body, query or answer schema, so nothing is
  // validated; the document adds the query, the 101 and the messages' schema (app.ts).
  const streamDoc = {
    operationId: 'getStream',
    tags: ['stream'],
    security: [{ bearerAuth: [] }],
    summary: 'Live updates over a WebSocket: a snapshot on connect, then run.updated (and run.event with ?runId=), ping every 20 s',
    description:
      "Upgrade to a WebSocket. The server sends one JSON text frame per message (StreamMessage, in `x-stream-messages`): `snapshot` on connect (up to 1000 summaries; with `?runId=`, only that run's), then `run.updated` { run, summary } after every commit (with `?runId=`, only that run's, and its `run.event` entries), and `ping` every 20 s. Anything the client sends is ignored. Over TETHER_STREAM_MAX_CLIENTS the socket is closed with 1013; a client reading too slowly is closed with 1008 (reconnect: a new snapshot).",
  };

  app.get('/', { websocket: true, onRequest: requireToken(settings.apiToken), schema: streamDoc }, (socket, req) => {
    if (connected >= maxClients) {
      req.log.warn({ connected, limit: maxClients }, 'stream client refused: TETHER_STREAM_MAX_CLIENTS reached');
      closeSoon(socket, 1013, `stream full: ${maxClients} clients (TETHER_STREAM_MAX_CLIENTS); try again later`);
      return;
    }
    const runId = (req.query as { runId?: unknown }).runId;
    const client: Client = {
      socket,
      raw: rawOf(socket),
      runId: typeof runId === 'string' ? runId : null,
      backlog: new Map(),
      backlogBytes: 0,
      gone: false,
    };
    add(client);
    socket.on('close', () => remove(client));
    socket.on('error', () => remove(client));
    // Clients only listen; anything they send is ignored.
    client.raw.write(snapshotFor(client.runId));
  });
};

export default stream;
