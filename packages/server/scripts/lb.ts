/**
 * A tiny round-robin load balancer, for running several Tether nodes behind one address on one machine:
 *
 *   node --import tsx scripts/lb.ts --port 8000 http://127.0.0.1:3001 http://127.0.0.1:3002 http://127.0.0.1:3003
 *
 * Proxies HTTP (bodies streamed both ways) and WebSocket upgrades (raw sockets piped after the upgrade request is
 * forwarded). The upstream connection is opened before a byte of the request is read, so a backend that refuses it
 * can be skipped for the next one with nothing lost, whatever the body's size; it is then marked down for 2 s. With
 * every backend down: 502 {"code":"TETHER_LB_NO_BACKEND"}. A backend that fails after accepting cannot be retried
 * (part of the request may have reached it): 502 TETHER_LB_BACKEND_FAILED, or a cut connection once the response began.
 * A development tool, not an edge proxy: no TLS, no health checks, no limits.
 */
import { request, createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface LoadBalancerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Backend base URLs, http only; only the host and port are used. */
  backends: string[];
}

export interface LoadBalancer {
  /** http://host:port of the balancer itself. */
  url: string;
  close(): Promise<void>;
}

const DOWN_MS = 2_000;
/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so they are not forwarded over another. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

interface Backend {
  host: string;
  port: number;
  downUntil: number;
}

export async function startLoadBalancer(opts: LoadBalancerOptions): Promise<LoadBalancer> {
  if (opts.backends.length === 0) throw new Error('at least one backend is needed');
  const backends: Backend[] = opts.backends.map((b) => {
    const u = new URL(b);
    if (u.protocol !== 'http:') throw new Error(`backend ${b}: only http:// is supported`);
    return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 80), downUntil: 0 };
  });
  let next = 0;

  /** Opens a TCP connection to the next backend that accepts one, in round-robin order; null if none does. */
  async function connectNext(): Promise<Socket | null> {
    // Each request walks the ring from its own starting point: concurrent requests moving a shared cursor would make
    // one request try the same backend twice and miss another.
    const first = next;
    next = (next + 1) % backends.length;
    for (let i = 0; i < backends.length; i++) {
      const b = backends[(first + i) % backends.length]!;
      if (b.downUntil > Date.now()) continue;
      const socket = await new Promise<Socket | null>((resolve) => {
        const s = connect(b.port, b.host);
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(null));
      });
      if (socket) return socket;
      b.downUntil = Date.now() + DOWN_MS;
    }
    return null;
  }

  const upgraded = new Set<Socket>();
  const server = createServer(async (req, res) => {
    const socket = await connectNext();
    if (!socket) return sendError(res, 'TETHER_LB_NO_BACKEND', 'no backend accepted the connection');
    // The request still streams: only the connection was made first. `createConnection` hands ours to http.request.
    const headers = { ...withoutHopByHop(req.headers), ...forwardedFor(req) };
    const upstream = request({ method: req.method, path: req.url, headers, createConnection: () => socket }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, withoutHopByHop(upRes.headers));
      res.flushHeaders(); // server-sent events: the client should see the headers before the first event
      pipeline(upRes, res, () => upstream.destroy());
    });
    upstream.on('error', (e) => (res.headersSent ? res.destroy() : sendError(res, 'TETHER_LB_BACKEND_FAILED', `backend failed: ${e.message}`)));
    // Also ends the upstream request when the client goes away mid-request.
    pipeline(req, upstream, () => undefined);
    res.on('close', () => upstream.destroy());
  });

  server.on('upgrade', async (req: IncomingMessage, client: Socket, head: Buffer) => {
    client.on('error', () => undefined);
    const socket = await connectNext();
    if (!socket) return client.end(rawError('TETHER_LB_NO_BACKEND', 'no backend accepted the connection'));
    if (client.destroyed) return socket.destroy();
    upgraded.add(client);
    client.once('close', () => upgraded.delete(client));
    // Forward the upgrade request as it came (Connection/Upgrade are the point here), with our X-Forwarded-* instead of
    // any the client sent for Host/Proto; then the two sockets are one pipe and the backend answers the handshake.
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    const fwd = forwardedFor(req);
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (!(req.rawHeaders[i]!.toLowerCase() in fwd)) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    }
    for (const [name, value] of Object.entries(fwd)) lines.push(`${name}: ${value}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) socket.write(head);
    socket.pipe(client).pipe(socket);
    // Either side gone: the other goes too (no half-open tunnels left behind).
    socket.on('error', () => client.destroy()).on('close', () => client.destroy());
    client.on('close', () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const { address, port } = server.address() as { address: string; port: number };
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of upgraded) s.destroy();
      await closed;
    },
  };
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  // Also the headers the Connection header names as hop-by-hop for this connection.
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase()),
  );
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name) && !named.has(name)));
}

/** X-Forwarded-For appends the client to any chain it brought; Host and Proto are what this balancer saw (it is the edge). */
function forwardedFor(req: IncomingMessage): Record<string, string> {
  const ip = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  return {
    'x-forwarded-for': prior ? `${String(prior)}, ${ip}` : ip,
    'x-forwarded-host': req.headers.host ?? '',
    'x-forwarded-proto': 'http',
  };
}

function errorBody(code: string, message: string): string {
  return JSON.stringify({ code, message });
}

function sendError(res: ServerResponse, code: string, message: string): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  res.writeHead(502, { 'content-type': 'application/json; charset=utf-8' }).end(errorBody(code, message));
}

function rawError(code: string, message: string): string {
  const body = errorBody(code, message);
  return `HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { port: { type: 'string', default: '8000' }, host: { type: 'string', default: '127.0.0.1' } },
  });
  if (positionals.length === 0) {
    console.error('usage: node --import tsx scripts/lb.ts [--port 8000] [--host 127.0.0.1] http://127.0.0.1:3001 http://127.0.0.1:3002 ...');
    process.exit(2);
  }
  const lb = await startLoadBalancer({ port: Number(values.port), host: values.host, backends: positionals });
  console.log(`tether-lb listening on ${lb.url} -> ${positionals.join(' ')}`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void lb.close().then(() => process.exit(0)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
