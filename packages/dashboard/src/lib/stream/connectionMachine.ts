/**
 * The live connection to `/api/stream` as a statechart: `socket.connecting` → `socket.live`, and on any close
 * `waiting` for an exponential backoff before opening a new socket. A snapshot carrying a bootId other than the
 * last one means the server restarted while we were away: it is recorded so pages can mark it.
 *
 * In watch mode the server sends only what the page asked for: the machine keeps the latest `watch` message and sends
 * it on every open (a new socket knows nothing of the last one's interest) and whenever it changes while live.
 *
 * The socket itself is a callback actor (`socket`), swapped in tests with `connectionMachine.provide`.
 */
import { assign, enqueueActions, fromCallback, setup } from 'xstate';
import type { StreamMessage, StreamWatch } from '@tether/machine/protocol';

export const RECONNECT_BASE_MS = 500;
export const RECONNECT_MAX_MS = 15_000;
/** The server pings every 20 s; a live socket silent for this long is dead even if the browser has not noticed. */
export const SILENCE_LIMIT_MS = 50_000;

/** 0.5 s, 1 s, 2 s, 4 s … capped at 15 s. */
export const reconnectDelayMs = (failures: number): number => Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.max(0, failures - 1));

export interface SocketInput {
  url: string;
  onMessage: (message: StreamMessage) => void;
}

export interface ServerRestart {
  bootId: string;
  /** When the new server process started (its snapshot's `startedAt`). */
  startedAt: string;
  /** When this page noticed, epoch ms. */
  detectedAt: number;
}

export type ConnectionEvent =
  | { type: 'socket.opened' }
  /** To the socket actor: a message for the server. */
  | { type: 'socket.send'; message: StreamWatch }
  /** From the page: what it wants to hear about from now on (replaces the previous watch). */
  | { type: 'watch.changed'; watch: StreamWatch }
  | { type: 'socket.closed'; code?: number; reason?: string }
  | { type: 'socket.snapshot'; bootId: string; startedAt: string }
  | { type: 'socket.message' }
  | { type: 'connection.retryNow' };

export interface ConnectionContext extends SocketInput {
  /** Consecutive failed or dropped connections since the last one that opened. */
  failures: number;
  everConnected: boolean;
  bootId: string | null;
  restarts: ServerRestart[];
  /** When the next connection attempt starts, epoch ms, while waiting. */
  nextRetryAt: number | null;
  lastClose: string | null;
  /** The interest to declare on every open; null until the page has declared one. */
  watch: StreamWatch | null;
}

const isStreamMessage = (v: unknown): v is StreamMessage => typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string';

/** A real browser WebSocket, reporting open, close and snapshots to the machine and every message to `onMessage`. */
export const browserSocket = fromCallback<ConnectionEvent, SocketInput>(({ sendBack, receive, input }) => {
  const ws = new WebSocket(input.url);
  receive((e) => {
    if (e.type === 'socket.send' && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(e.message));
  });
  ws.onopen = () => sendBack({ type: 'socket.opened' });
  ws.onmessage = (e: MessageEvent) => {
    let message: unknown;
    try {
      message = JSON.parse(String(e.data));
    } catch {
      return;
    }
    if (!isStreamMessage(message)) return;
    if (message.type === 'snapshot') sendBack({ type: 'socket.snapshot', bootId: message.bootId, startedAt: message.startedAt });
    sendBack({ type: 'socket.message' });
    input.onMessage(message);
  };
  ws.onclose = (e: CloseEvent) => sendBack({ type: 'socket.closed', code: e.code, reason: e.reason });
  return () => {
    ws.onmessage = null;
    ws.onclose = null;
    // Closing a socket that is still connecting makes the browser log an error; close it once it opens instead.
    if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close(1000, 'page left');
    else {
      ws.onopen = null;
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'page left');
    }
  };
});

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as SocketInput,
  },
  actors: { socket: browserSocket },
  actions: {
    markOpen: assign({ failures: 0, everConnected: true, nextRetryAt: null, lastClose: null }),
    markClosed: assign(({ context, event }) => {
      const e = event as Partial<Extract<ConnectionEvent, { type: 'socket.closed' }>>;
      const failures = context.failures + 1;
      return {
        failures,
        nextRetryAt: Date.now() + reconnectDelayMs(failures),
        lastClose:
          e.type === 'socket.closed'
            ? e.code
              ? `closed with code ${e.code}${e.reason ? `: ${e.reason}` : ''}`
              : 'connection lost'
            : `no message for ${SILENCE_LIMIT_MS / 1000} s`,
      };
    }),
    setWatch: assign({ watch: ({ context, event }) => (event.type === 'watch.changed' ? event.watch : context.watch) }),
    sendWatch: enqueueActions(({ context, enqueue }) => {
      if (context.watch) enqueue.sendTo('socket', { type: 'socket.send', message: context.watch } satisfies ConnectionEvent);
    }),
    noteBoot: assign(({ context, event }) => {
      const e = event as Extract<ConnectionEvent, { type: 'socket.snapshot' }>;
      if (context.bootId === null || context.bootId === e.bootId) return { bootId: e.bootId };
      return {
        bootId: e.bootId,
        restarts: [...context.restarts, { bootId: e.bootId, startedAt: e.startedAt, detectedAt: Date.now() }],
      };
    }),
  },
  delays: {
    reconnectDelay: ({ context }) => reconnectDelayMs(context.failures),
    silenceLimit: SILENCE_LIMIT_MS,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    url: input.url,
    onMessage: input.onMessage,
    failures: 0,
    everConnected: false,
    bootId: null,
    restarts: [],
    nextRetryAt: null,
    lastClose: null,
    watch: null,
  }),
  initial: 'socket',
  // Kept while disconnected too: the next socket declares it as soon as it opens.
  on: { 'watch.changed': { actions: 'setWatch' } },
  states: {
    socket: {
      invoke: { id: 'socket', src: 'socket', input: ({ context }) => ({ url: context.url, onMessage: context.onMessage }) },
      initial: 'connecting',
      on: {
        'socket.snapshot': { actions: 'noteBoot' },
        'socket.closed': { target: 'waiting', actions: 'markClosed' },
      },
      states: {
        connecting: { on: { 'socket.opened': { target: 'live', actions: ['markOpen', 'sendWatch'] } } },
        live: {
          on: {
            // Any message (pings included) restarts the silence watchdog.
            'socket.message': { target: 'live', reenter: true },
            'watch.changed': { actions: ['setWatch', 'sendWatch'] },
          },
          after: { silenceLimit: { target: '#connection.waiting', actions: 'markClosed' } },
        },
      },
    },
    waiting: {
      after: { reconnectDelay: 'socket' },
      on: { 'connection.retryNow': 'socket' },
    },
  },
});

export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting';

/** What the indicator shows: never "connecting" again once we have been live — then it is "reconnecting". */
export function connectionStatus(snapshot: {
  matches: (v: 'waiting' | { socket: 'live' }) => boolean;
  context: ConnectionContext;
}): ConnectionStatus {
  if (snapshot.matches({ socket: 'live' })) return 'live';
  if (snapshot.context.everConnected || snapshot.context.failures > 0) return 'reconnecting';
  return 'connecting';
}
