/**
 * WebSocket `GET /api/stream[?runId=]`: a `snapshot` on connect, then `run.updated` after every commit (and `run.event`
 * for the subscribed run). Each broadcast is encoded once. A slow client does not slow the engine: once its socket
 * buffers more than SLOW_BYTES, updates coalesce per run (latest wins) until it drains.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import type { StreamMessage } from '@tether/machine';
import { requireToken } from '../../plugins/auth.ts';

const SLOW_BYTES = 1 << 20;
const PING_MS = 20_000;
const SNAPSHOT_RUNS = 1000;

interface Client {
  socket: WebSocket;
  runId: string | null;
  /** Coalesced messages for a slow client, keyed by run (and event seq for run.event). */
  backlog: Map<string, string>;
}

const stream: FastifyPluginAsync = async (app) => {
  const { engine, settings } = app.tether;
  const clients = new Set<Client>();

  const deliver = (c: Client, key: string, text: string) => {
    if (c.socket.readyState !== c.socket.OPEN) return;
    if (c.backlog.size || c.socket.bufferedAmount > SLOW_BYTES) {
      c.backlog.set(key, text);
      return;
    }
    c.socket.send(text);
  };

  const flush = () => {
    for (const c of clients) {
      if (!c.backlog.size || c.socket.bufferedAmount > SLOW_BYTES) continue;
      const pending = [...c.backlog.values()];
      c.backlog.clear();
      for (const text of pending) c.socket.send(text);
    }
  };

  // The connect snapshot (up to 1000 summaries, ~400 KB of JSON) is the same for every client until the next commit:
  // built once and shared, so 100 clients connecting together do not block the loop for 100 serialisations (B6/B7).
  let snapshotText: string | null = null;
  const snapshotFor = (): string => {
    snapshotText ??= JSON.stringify({
      type: 'snapshot',
      bootId: engine.bootId,
      startedAt: new Date(engine.startedAt).toISOString(),
      runs: engine.listRuns({ limit: SNAPSHOT_RUNS }).runs,
    } satisfies StreamMessage);
    return snapshotText;
  };

  const unsubscribe = engine.subscribe((u) => {
    snapshotText = null;
    if (!clients.size) return;
    const updated = JSON.stringify({ type: 'run.updated', run: u.run } satisfies StreamMessage);
    const events = u.events.map((event) => JSON.stringify({ type: 'run.event', runId: u.run.id, event } satisfies StreamMessage));
    for (const c of clients) {
      deliver(c, `u:${u.run.id}`, updated);
      if (c.runId === u.run.id) u.events.forEach((e, i) => deliver(c, `e:${u.run.id}:${e.seq}`, events[i]!));
    }
  });

  const timer = setInterval(() => {
    flush();
  }, 100);
  timer.unref();
  const ping = setInterval(() => {
    const text = JSON.stringify({ type: 'ping', at: new Date().toISOString() } satisfies StreamMessage);
    for (const c of clients) {
      if (c.socket.readyState !== c.socket.OPEN) continue;
      c.socket.ping();
      deliver(c, 'ping', text);
    }
  }, PING_MS);
  ping.unref();

  app.addHook('onClose', async () => {
    unsubscribe();
    clearInterval(timer);
    clearInterval(ping);
    for (const c of clients) c.socket.close(1001, 'server stopping');
  });

  app.get(
    '/',
    { websocket: true, onRequest: requireToken(settings.apiToken), schema: { hide: true } },
    (socket, req) => {
      const runId = (req.query as { runId?: unknown }).runId;
      const client: Client = { socket, runId: typeof runId === 'string' ? runId : null, backlog: new Map() };
      clients.add(client);
      socket.on('close', () => clients.delete(client));
      socket.on('error', () => clients.delete(client));
      // Clients only listen; anything they send is ignored.
      socket.send(snapshotFor());
    },
  );
};

export default stream;
