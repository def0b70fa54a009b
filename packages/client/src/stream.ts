/**
 * `GET /api/stream?runId=` as an async iterator that survives dropped connections. The platform's WebSocket is used
 * where there is one (browsers, Node 22+); in Node 20, which has none, the `ws` package is imported on first use. A
 * constructor can also be injected (`new Tether({ WebSocket })`).
 */
import { isFinalRunStatus, type StreamMessage } from '@tether/machine/protocol';
import { CLIENT_ERROR_CODES, TetherError } from './errors.ts';

/** The part of the WHATWG WebSocket the client uses; the browser's, undici's and `ws`'s all have it. */
export interface WebSocketLike {
  readonly readyState: number;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: never) => void): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/**
 * What `watch()` yields: the stream's messages for one run (`?runId=`), without the keep-alive pings. The stream's
 * watch mode (`?watch=1`) has messages of its own, which a `?runId=` connection never gets.
 */
export type WatchMessage = Extract<StreamMessage, { type: 'snapshot' | 'run.updated' | 'run.event' }>;

export interface WatchOptions {
  /** Stops the watch: the iterator throws the signal's reason and the socket is closed. */
  signal?: AbortSignal;
  /** First reconnection delay, doubled after each failed attempt up to `maxDelayMs`. @default 250 */
  initialDelayMs?: number;
  /** @default 10000 */
  maxDelayMs?: number;
  /** Consecutive failed connections before giving up with `TETHER_CLIENT_NETWORK`. @default Infinity */
  maxReconnects?: number;
  /**
   * A connection that delivers nothing for this long is taken for dead and replaced (the server pings every 20 s).
   * @default 45000
   */
  idleTimeoutMs?: number;
  /** Told before each reconnection: how many have failed in a row so far, the delay, why. */
  onReconnect?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

type Item =
  { kind: 'open' } | { kind: 'message'; data: unknown } | { kind: 'closed'; code: number; reason: string } | { kind: 'idle' } | { kind: 'aborted' };

/** One socket's events as a queue, read one at a time. */
class Connection {
  private readonly queue: Item[] = [];
  private waiter: ((item: Item) => void) | undefined;
  private ended = false;
  opened = false;

  constructor(
    private readonly socket: WebSocketLike,
    signal: AbortSignal | undefined,
  ) {
    socket.addEventListener('open', () => {
      this.opened = true;
      this.push({ kind: 'open' });
    });
    socket.addEventListener('message', (ev: { data: unknown }) => this.push({ kind: 'message', data: ev.data }));
    socket.addEventListener('close', (ev: { code?: number; reason?: string }) =>
      this.end({ kind: 'closed', code: ev.code ?? 1006, reason: ev.reason ?? '' }),
    );
    // An error is followed by a close in every implementation, but a handshake refused by ws may not carry a code.
    socket.addEventListener('error', (ev: { message?: string; error?: { message?: string } }) =>
      this.end({ kind: 'closed', code: 1006, reason: ev.error?.message ?? ev.message ?? 'socket error' }),
    );
    signal?.addEventListener('abort', () => this.end({ kind: 'aborted' }), { once: true });
  }

  private push(item: Item) {
    if (this.ended) return;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(item);
    } else this.queue.push(item);
  }

  private end(item: Item) {
    if (this.ended) return;
    this.push(item);
    this.ended = true;
  }

  next(idleMs: number): Promise<Item> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve({ kind: 'closed', code: 1006, reason: 'closed' });
    return new Promise<Item>((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve({ kind: 'idle' });
      }, idleMs);
      this.waiter = (item) => {
        clearTimeout(timer);
        resolve(item);
      };
    });
  }

  close() {
    this.ended = true;
    this.waiter?.({ kind: 'aborted' });
    this.waiter = undefined;
    try {
      this.socket.close(1000, 'done');
    } catch {
      // Already closing, or never opened: nothing to do.
    }
  }
}

const decoder = new TextDecoder();

function parseMessage(data: unknown): StreamMessage | undefined {
  let text: string;
  if (typeof data === 'string') text = data;
  else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) text = decoder.decode(data as ArrayBuffer);
  else return undefined;
  try {
    const m = JSON.parse(text) as StreamMessage;
    return typeof m === 'object' && m !== null && typeof m.type === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface StreamContext {
  /** ws(s)://…/api/stream?runId=… (with `token=` when the socket cannot send headers). */
  url(runId: string, withToken: boolean): string;
  /** Authorization header for sockets that take headers (`ws`). */
  headers: Record<string, string>;
  /** Opens a socket: the injected constructor, the global one, or `ws`. */
  open(url: string, headers: Record<string, string>): Promise<WebSocketLike>;
  /**
   * Throws the API's error for this run when there is one (404 unknown run, 401 bad token): a socket cannot say why
   * its upgrade was refused, so a failed connection asks over HTTP. Network errors are swallowed (false).
   */
  probe(runId: string): Promise<boolean>;
}

const isFinalMessage = (m: WatchMessage, runId: string): boolean =>
  (m.type === 'run.updated' && isFinalRunStatus(m.run.status)) ||
  (m.type === 'snapshot' && m.runs.some((r) => r.id === runId && isFinalRunStatus(r.status)));

/** run.event messages already arriving (at most `TRAILING_MS` apart); stops at anything else. */
async function* trailingEvents(conn: Connection): AsyncGenerator<WatchMessage, void, undefined> {
  for (;;) {
    const item = await conn.next(TRAILING_MS);
    if (item.kind !== 'message') return;
    const m = parseMessage(item.data);
    if (m?.type !== 'run.event') return;
    yield m;
  }
}

/** How long the end of a watch waits for each event of the final commit. */
const TRAILING_MS = 100;

/**
 * Every message of the run's stream: on each (re)connection a `snapshot` (holding the run's summary as it is then,
 * so a consumer that missed updates while disconnected catches up), then `run.updated` and `run.event` as they
 * happen. Ends after the first message that shows the run final — a `run.updated` (and the `run.event`s of that same
 * commit, which follow it), or a `snapshot` when the run was already final. A run the server does not know is `TETHER_RUN_NOT_FOUND`.
 */
export async function* watchRun(ctx: StreamContext, runId: string, opts: WatchOptions = {}): AsyncGenerator<WatchMessage, void, undefined> {
  const initialDelay = opts.initialDelayMs ?? 250;
  const maxDelay = opts.maxDelayMs ?? 10_000;
  const maxReconnects = opts.maxReconnects ?? Infinity;
  const idleMs = opts.idleTimeoutMs ?? 45_000;
  const { signal } = opts;
  let failures = 0;

  for (;;) {
    signal?.throwIfAborted();
    const socket = await ctx.open(ctx.url(runId, Object.keys(ctx.headers).length === 0), ctx.headers);
    const conn = new Connection(socket, signal);
    let reason = 'closed';
    let delivered = false;
    try {
      for (;;) {
        const item = await conn.next(idleMs);
        if (item.kind === 'aborted') throw signal?.reason ?? new Error('aborted');
        if (item.kind === 'idle') {
          reason = `nothing received for ${idleMs} ms`;
          break;
        }
        if (item.kind === 'closed') {
          reason = `closed with ${item.code}${item.reason ? ` ${item.reason}` : ''}`;
          break;
        }
        if (item.kind === 'open') continue;
        const m = parseMessage(item.data);
        // Pings, and the watch mode's messages (never sent to a `?runId=` connection: skipping them narrows the type).
        if (!m || m.type === 'ping' || m.type === 'run.summary' || m.type === 'run.deleted' || m.type === 'watch.ok') continue;
        delivered = true;
        failures = 0;
        if (m.type === 'snapshot' && !m.runs.some((r) => r.id === runId)) {
          // Unknown to the server (or made after the snapshot was taken): the API says which.
          await ctx.probe(runId);
          continue;
        }
        yield m;
        if (isFinalMessage(m, runId)) {
          // The events of the final commit follow its run.updated in the same write: hand them over too.
          if (m.type === 'run.updated') yield* trailingEvents(conn);
          return;
        }
      }
    } finally {
      conn.close();
    }
    // Dropped. A connection that never got anything may have been refused for a reason the API can tell.
    if (!delivered) await ctx.probe(runId);
    failures++;
    if (failures > maxReconnects) {
      throw new TetherError(CLIENT_ERROR_CODES.network, `stream for ${runId}: gave up after ${failures} failed connections (${reason})`);
    }
    const delayMs = Math.min(maxDelay, initialDelay * 2 ** Math.max(0, failures - 1));
    opts.onReconnect?.({ attempt: failures, delayMs, reason });
    await sleep(delayMs, signal);
  }
}
