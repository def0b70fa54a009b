/**
 * WebSocket `GET /api/stream[?runId=|?watch=1]`.
 *
 * - Without a query (a list watcher: the CLI, benches): a `snapshot` of up to 1000 summaries on connect, then
 *   `run.updated` after every commit of any run.
 * - With `runId` (one run: the client's `watchRun`): a `snapshot` holding only that run's summary (none if it does not
 *   exist), then only that run's `run.updated` and `run.event` messages. Sending it other runs' updates made every
 *   commit cost O(all clients).
 * - With `watch=1` (the dashboard's one shared connection): an empty `snapshot`, then only what the client's latest
 *   `watch` message names: `run.summary` (the list line, no run view) after each commit of a run in `runs`, the
 *   `?runId=` messages of its `run`, a `run.summary` for every run's creating commit with `created`, and `run.deleted`
 *   for a watched run that is deleted. Each watch replaces the previous and is answered with `watch.ok` once the
 *   broadcast of earlier commits has gone out, so the client re-reads over HTTP after it and misses nothing. A page
 *   shows a few dozen rows: indexing those ids keeps a commit's cost to the clients that show its run.
 * - Everyone: `ping` every 20 s. Only watch-mode clients' messages are read; anything else a client sends is ignored.
 *
 * Bounded amplification:
 * - A commit costs O(subscribers of that run + created-watchers + list watchers): clients are indexed by run id (`byRun`
 *   for run views, `bySummary` for list lines). A watch costs O(ids in it and in the one it replaces).
 * - Each message is encoded once, straight into a WebSocket frame, and the frames of the commits since the last
 *   broadcast are concatenated once per audience (list watchers; each run's subscribers; each run's summary watchers;
 *   created-watchers): a broadcast is one socket write of shared bytes per client and audience, whatever the number of
 *   commits in it. The write, not the encoding, is the cost (~10 µs per loopback socket: 50 ms for 5,000 clients), so
 *   broadcasts run after the commit, and one that took d ms is followed by at least d ms for everything else: with
 *   many clients, commits keep going and batch up instead of each waiting for 5,000 writes. With few clients d is tiny
 *   and updates go out on the next turn.
 * - At most `TETHER_STREAM_MAX_CLIENTS` clients, whatever their mode. One more has its upgrade accepted and is closed at
 *   once with 1013 "try again later" and a reason: a browser cannot see the HTTP status of a refused upgrade (it only
 *   gets 1006, no reason), but it does see a close code and reason.
 * - A slow client does not slow the engine: once its socket buffers more than `slowBytes`, updates coalesce per run
 *   (latest wins) until it drains. With many runs that backlog still grows, so once socket buffer + backlog exceed
 *   `TETHER_STREAM_MAX_BUFFER_BYTES` the client is closed with 1008 and a reason; it may reconnect and get a snapshot.
 * - A watch is one JSON text frame of at most 64 KiB (ws's maxPayload, app.ts, closes a bigger one with 1009 before it
 *   gets here) naming at most 500 ids; anything else closes the socket with 1008 and a reason naming the problem.
 */
import type { Socket } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import { Compile } from 'typebox/compile';
import type { RawData, WebSocket } from 'ws';
import { STREAM_WATCH_MAX_RUNS, StreamWatch, type StreamMessage } from '@tether/machine/protocol';
import type { RunUpdate } from '../../engine/ports.ts';
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
/**
 * The largest watch frame. ws's maxPayload (app.ts) is the same today and closes a bigger one with 1009 before the
 * handler sees it; checked here too so the bound holds if that global cap is ever raised for another route.
 */
const WATCH_MAX_BYTES = 64 * 1024;
/** The most bytes a close reason may hold (RFC 6455 §5.5: a control frame's payload is ≤ 125, 2 of them the code). */
const MAX_REASON_BYTES = 123;

/** One message, as the frame bytes to write; `key` is what it coalesces under for a slow client. */
interface Entry {
  key: string;
  frame: Buffer;
}

interface Client {
  socket: WebSocket;
  /** The TCP socket under it, written to directly with pre-built frames (see `frameOf`). */
  raw: Socket;
  /** `list`: no query; `run`: `?runId=`; `watch`: `?watch=1`. */
  mode: 'list' | 'run' | 'watch';
  /** `run`: the run it was opened for; `watch`: its watch's `run` (null: none). Indexed in `byRun` under it. */
  runId: string | null;
  /** `watch`: its watch's `runs`, each indexed in `bySummary`. */
  summaries: ReadonlySet<string>;
  /** `watch`: how many watches it sent, so each `watch.ok` has its own coalescing key and none is lost. */
  watches: number;
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

/** Several entries' frames as one buffer, for one write per client. */
const bytesOf = (entries: readonly Entry[]): Buffer => (entries.length === 1 ? entries[0]!.frame : Buffer.concat(entries.map((e) => e.frame)));

/** ws keeps the TCP socket as `_socket` (its name since ws 1.x); there is no public accessor. */
const rawOf = (ws: WebSocket): Socket => (ws as unknown as { _socket: Socket })._socket;

/**
 * Whether the update holds the run's creating commit. That commit writes log entries 0 (`run.created`) and 1
 * (`run.start`) and publishes entry 1; an update relayed from another node holds every entry since the last this node
 * knew, so the first one this node hears of a run starts at entry 1 too. The Notifier carries no flag for it.
 */
const isCreation = (u: RunUpdate): boolean => u.events[0]?.seq === 1;

const checkWatch = Compile(StreamWatch);

/** `reason` cut to what a close frame holds, on a character boundary. */
function closeReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > MAX_REASON_BYTES) r = r.slice(0, -1);
  return r;
}

/** Why `data` is not a watch (a close reason), or the watch. */
function parseWatch(data: RawData, isBinary: boolean): StreamWatch | string {
  if (isBinary) return 'bad watch: a binary frame; send JSON text';
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (bytes.length > WATCH_MAX_BYTES) return `bad watch: ${bytes.length} bytes, at most ${WATCH_MAX_BYTES}`;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'bad watch: not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'bad watch: not a JSON object';
  const { type, runs } = value as { type?: unknown; runs?: unknown };
  if (type !== 'watch') return `bad message: type must be "watch", got ${JSON.stringify(type) ?? 'none'}`;
  if (Array.isArray(runs) && runs.length > STREAM_WATCH_MAX_RUNS) return `bad watch: runs has ${runs.length} ids, at most ${STREAM_WATCH_MAX_RUNS}`;
  if (checkWatch.Check(value)) return value;
  // Only a bad watch pays for its errors; the first one is the reason.
  const errors = checkWatch.Errors(value) as unknown as { keyword: string; instancePath: string; message: string; params: Record<string, unknown> }[];
  // An unknown field is reported twice, first as "schema is false" (`additionalProperties: false` read as a schema).
  const e = errors.find((x) => x.keyword !== 'boolean');
  if (!e) return 'bad watch';
  const at = e.instancePath.slice(1).replaceAll('/', '.');
  if (e.keyword === 'additionalProperties')
    return `bad watch: unknown field ${JSON.stringify(String((e.params.additionalProperties as unknown[])[0]))}`;
  if (e.keyword === 'required') return `bad watch: missing ${(e.params.requiredProperties as string[]).join(', ')}`;
  // `run` is the one union: its first error would name only one branch ("must be string").
  if (at === 'run') return 'bad watch: run must be a run id (a string of 1-100 characters) or null';
  return `bad watch: ${at} ${e.message}`;
}

/** `c` joins the set of `index` under `id`. */
function join(index: Map<string, Set<Client>>, id: string, c: Client): void {
  let subs = index.get(id);
  if (!subs) index.set(id, (subs = new Set()));
  subs.add(c);
}

/** `c` leaves the set of `index` under `id`; an empty set goes, so the index holds only watched runs. */
function leave(index: Map<string, Set<Client>>, id: string, c: Client): void {
  const subs = index.get(id);
  subs?.delete(c);
  if (subs && !subs.size) index.delete(id);
}

const stream: FastifyPluginAsync = async (app) => {
  const { engine, settings } = app.tether;
  const maxClients = settings.streamMaxClients;
  const maxBuffer = settings.streamMaxBufferBytes;
  // With a small drop limit, coalescing must still start before it, or a moderately slow client is dropped outright.
  const slowBytes = Math.min(SLOW_BYTES, Math.floor(maxBuffer / 2));

  /** Every client, whatever its mode: for pings, shutdown and the count. */
  const clients = new Set<Client>();
  /** Clients without a query: they get every run.updated. */
  const listWatchers = new Set<Client>();
  /** Clients following a run in detail (`?runId=`, a watch's `run`), by run: a commit reaches only its own run's. */
  const byRun = new Map<string, Set<Client>>();
  /** Watch-mode clients showing a run's list line (a watch's `runs`), by run. */
  const bySummary = new Map<string, Set<Client>>();
  /** Watch-mode clients whose watch has `created: true`. */
  const createdWatchers = new Set<Client>();
  /** Clients with a backlog, so the drain check is O(slow clients), not O(all) every 100 ms. */
  const slow = new Set<Client>();
  app.tether.streamClients = () => clients.size;

  const add = (c: Client) => {
    clients.add(c);
    if (c.mode === 'list') listWatchers.add(c);
    else if (c.mode === 'run' && c.runId !== null) join(byRun, c.runId, c);
    // A watch-mode client is in no index until its first watch.
  };

  const remove = (c: Client) => {
    if (c.gone) return;
    c.gone = true;
    clients.delete(c);
    slow.delete(c);
    c.backlog.clear();
    c.backlogBytes = 0;
    listWatchers.delete(c);
    createdWatchers.delete(c);
    if (c.runId !== null) leave(byRun, c.runId, c);
    for (const id of c.summaries) leave(bySummary, id, c);
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

  // What the commits since the last broadcast have to say, in commit order: to list watchers, to each run's
  // subscribers, to each run's summary watchers, to created-watchers; then deletions and watch answers. Bounded by the
  // commits (and watches) of one broadcast's duration.
  let listBatch: Entry[] = [];
  let runBatches = new Map<string, Entry[]>();
  let summaryBatches = new Map<string, Entry[]>();
  let createdBatch: Entry[] = [];
  let deletedBatch: { runId: string; entry: Entry }[] = [];
  let ackBatch: { client: Client; entry: Entry }[] = [];
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
    const summaries = summaryBatches;
    const created = createdBatch;
    const deleted = deletedBatch;
    const acks = ackBatch;
    listBatch = [];
    runBatches = new Map();
    summaryBatches = new Map();
    createdBatch = [];
    deletedBatch = [];
    ackBatch = [];
    // Creations first: each is a run's first commit, so a client that also names one of those runs in `runs` gets
    // the run's later summaries after it (at worst the first one twice), never an older one after a newer.
    if (created.length && createdWatchers.size) {
      const bytes = bytesOf(created);
      for (const c of createdWatchers) deliver(c, created, bytes);
    }
    if (list.length && listWatchers.size) {
      const bytes = bytesOf(list);
      for (const c of listWatchers) deliver(c, list, bytes);
    }
    for (const [runId, entries] of runs) {
      const subs = byRun.get(runId);
      if (!subs) continue;
      const bytes = bytesOf(entries);
      for (const c of subs) deliver(c, entries, bytes);
    }
    for (const [runId, entries] of summaries) {
      const subs = bySummary.get(runId);
      if (!subs) continue;
      const bytes = bytesOf(entries);
      for (const c of subs) deliver(c, entries, bytes);
    }
    // After the run's last commit (above). Once per client, though it may watch the run both ways; legacy `?runId=`
    // clients, also in `byRun`, are not told (their stream stays as it was).
    for (const { runId, entry } of deleted) {
      const shown = bySummary.get(runId);
      if (shown) for (const c of shown) deliver(c, [entry], entry.frame);
      const followed = byRun.get(runId);
      if (followed) for (const c of followed) if (c.mode === 'watch' && !shown?.has(c)) deliver(c, [entry], entry.frame);
    }
    // Last: everything of a commit made before the watch has gone out before its answer.
    for (const { client, entry } of acks) deliver(client, [entry], entry.frame);
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
  /** Watch mode's, the same for the whole process. */
  const emptySnapshot = snapshotOf([]);
  const snapshotFor = (c: Client): Buffer => {
    if (c.mode === 'watch') return emptySnapshot;
    if (c.runId === null) return (listSnapshot ??= snapshotOf(engine.listRuns({ limit: SNAPSHOT_RUNS }).runs));
    // One small summary: not worth caching.
    const summary = engine.getSummary(c.runId);
    return summary ? snapshotOf([summary]) : emptySnapshot;
  };

  const unsubscribe = engine.subscribe((u) => {
    listSnapshot = null;
    const runId = u.summary.id;
    const subs = byRun.get(runId);
    const shown = bySummary.has(runId);
    const creating = createdWatchers.size > 0 && isCreation(u);
    // `u.run` is built on first read: a commit nobody watches does not pay for the view or its encoding, and one only
    // shown as a list line pays for the summary alone.
    if (!listWatchers.size && !subs && !shown && !creating) return;
    if (listWatchers.size || subs) {
      // The summary rides along: list clients show it as is, and never re-derive a list line from the run.
      const updated: Entry = { key: `u:${runId}`, frame: frameOf({ type: 'run.updated', run: u.run, summary: u.summary }) };
      if (listWatchers.size) listBatch.push(updated);
      if (subs) {
        let batch = runBatches.get(runId);
        if (!batch) runBatches.set(runId, (batch = []));
        batch.push(updated);
        for (const event of u.events) batch.push({ key: `e:${runId}:${event.seq}`, frame: frameOf({ type: 'run.event', runId, event }) });
      }
    }
    if (shown || creating) {
      const line: Entry = { key: `s:${runId}`, frame: frameOf({ type: 'run.summary', summary: u.summary }) };
      if (shown) {
        let batch = summaryBatches.get(runId);
        if (!batch) summaryBatches.set(runId, (batch = []));
        batch.push(line);
      }
      if (creating) createdBatch.push(line);
    }
    schedule();
  });

  const unsubscribeDeleted = engine.onRunDeleted((runId) => {
    // The cached list snapshot may hold it.
    listSnapshot = null;
    // Watch-mode clients only (filtered in `broadcast`): `byRun` also holds legacy `?runId=` ones.
    if (!bySummary.has(runId) && !byRun.has(runId)) return;
    deletedBatch.push({ runId, entry: { key: `d:${runId}`, frame: frameOf({ type: 'run.deleted', runId }) } });
    schedule();
  });

  /** Applies a watch: the client leaves the ids it no longer names and joins the new ones, then is answered. */
  const watch = (c: Client, w: StreamWatch) => {
    const ids = new Set(w.runs);
    for (const id of c.summaries) if (!ids.has(id)) leave(bySummary, id, c);
    for (const id of ids) if (!c.summaries.has(id)) join(bySummary, id, c);
    c.summaries = ids;
    if (w.run !== c.runId) {
      if (c.runId !== null) leave(byRun, c.runId, c);
      if (w.run !== null) join(byRun, w.run, c);
      c.runId = w.run;
    }
    if (w.created) createdWatchers.add(c);
    else createdWatchers.delete(c);
    const entry: Entry = {
      key: `w:${++c.watches}`,
      frame: frameOf({ type: 'watch.ok', runs: ids.size, run: w.run, created: w.created }),
    };
    // A broadcast pending holds commits made before this watch, delivered to the new audience: the answer goes after
    // them, so a client that re-reads over HTTP on it never gets an older state afterwards. None pending: at once.
    if (pending) ackBatch.push({ client: c, entry });
    else deliver(c, [entry], entry.frame);
  };

  const timer = setInterval(drainSlow, 100);
  timer.unref();
  const ping = setInterval(() => {
    const entry: Entry[] = [{ key: 'ping', frame: frameOf({ type: 'ping', at: new Date().toISOString() }) }];
    for (const c of clients) {
      if (c.socket.readyState !== c.socket.OPEN) continue;
      c.socket.ping();
      deliver(c, entry, entry[0]!.frame);
    }
  }, PING_MS);
  ping.unref();

  app.addHook('onClose', async () => {
    unsubscribe();
    unsubscribeDeleted();
    clearInterval(timer);
    clearInterval(ping);
    if (pending) {
      if ('timer' in pending) clearTimeout(pending.timer);
      else clearImmediate(pending.immediate);
      broadcast();
    }
    for (const c of [...clients]) {
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
    summary:
      'Live updates over a WebSocket: a snapshot on connect, then run.updated (and run.event with ?runId=), or with ?watch=1 only what the client watches; ping every 20 s',
    description:
      "Upgrade to a WebSocket. The server sends one JSON text frame per message (StreamMessage, in `x-stream-messages`): `snapshot` on connect (up to 1000 summaries; with `?runId=`, only that run's), then `run.updated` { run, summary } after every commit (with `?runId=`, only that run's, and its `run.event` entries), and `ping` every 20 s. Anything these clients send is ignored.\n\n" +
      `Watch mode (\`?watch=1\`, \`runId\` ignored): an empty \`snapshot\`, then nothing about runs until the client sends a watch, a JSON text frame (StreamWatch, in \`x-stream-client-messages\`) \`{ "type": "watch", "runs": [ids, at most ${STREAM_WATCH_MAX_RUNS}], "run": id | null, "created": boolean }\`. Each replaces the previous and is answered with \`watch.ok\` { runs: how many ids, run, created } once every message of an earlier commit has been sent: re-read over HTTP then; every later commit reaches the client. From then: \`run.summary\` { summary } after each commit of a run in \`runs\`; for \`run\`, what \`?runId=\` gets (\`run.updated\`, \`run.event\`); with \`created\`, a \`run.summary\` for every run's creating commit; \`run.deleted\` { runId } when a run in \`runs\` or \`run\` is deleted on this server. A frame that is not JSON or not a watch (another type, too many ids, an id that is not a string of 1–100 characters, an unknown field) closes the socket with 1008 and a reason naming the problem; one over 64 KiB is closed with 1009.\n\n` +
      'Over TETHER_STREAM_MAX_CLIENTS (every mode counts) the socket is closed with 1013; a client reading too slowly is closed with 1008 (reconnect: a new snapshot).',
  };

  app.get('/', { websocket: true, onRequest: requireToken(settings.apiToken), schema: streamDoc }, (socket, req) => {
    if (clients.size >= maxClients) {
      req.log.warn({ connected: clients.size, limit: maxClients }, 'stream client refused: TETHER_STREAM_MAX_CLIENTS reached');
      closeSoon(socket, 1013, `stream full: ${maxClients} clients (TETHER_STREAM_MAX_CLIENTS); try again later`);
      return;
    }
    const q = req.query as { runId?: unknown; watch?: unknown };
    const mode = q.watch === '1' ? 'watch' : typeof q.runId === 'string' ? 'run' : 'list';
    const client: Client = {
      socket,
      raw: rawOf(socket),
      mode,
      runId: mode === 'run' ? (q.runId as string) : null,
      summaries: new Set(),
      watches: 0,
      backlog: new Map(),
      backlogBytes: 0,
      gone: false,
    };
    add(client);
    socket.on('close', () => remove(client));
    socket.on('error', () => remove(client));
    // Only watch-mode clients talk; anything the others send is ignored.
    if (mode === 'watch') {
      socket.on('message', (data, isBinary) => {
        if (client.gone) return;
        const w = parseWatch(data, isBinary);
        if (typeof w !== 'string') return watch(client, w);
        remove(client);
        req.log.warn({ reason: w }, 'stream client closed: bad watch');
        closeSoon(socket, 1008, closeReason(w));
      });
    }
    client.raw.write(snapshotFor(client));
  });
};

export default stream;
