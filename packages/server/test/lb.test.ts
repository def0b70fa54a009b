// scripts/lb.ts against two real backends on loopback that answer with their own name.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { startLoadBalancer, type LoadBalancer } from '../scripts/lb.ts';

interface Backend {
  name: string;
  url: string;
  close(): Promise<void>;
}

/** GET answers the name; POST echoes the body; both report the X-Forwarded-For seen; a WebSocket echoes `name:message`. */
async function backend(name: string): Promise<Backend> {
  const server: Server = createServer((req, res) => {
    res.setHeader('x-backend', name);
    res.setHeader('x-seen-forwarded-for', String(req.headers['x-forwarded-for']));
    if (req.method === 'POST') req.pipe(res);
    else res.end(name);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`${name}:${m.toString()}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  let closed = false;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function fixture(): Promise<{ a: Backend; b: Backend; lb: LoadBalancer }> {
  const [a, b] = await Promise.all([backend('a'), backend('b')]);
  const lb = await startLoadBalancer({ port: 0, host: '127.0.0.1', backends: [a.url, b.url] });
  onTestFinished(async () => {
    await lb.close();
    await Promise.all([a.close(), b.close()]);
  });
  return { a, b, lb };
}

const names = (lb: LoadBalancer, n: number) => Promise.all(Array.from({ length: n }, () => fetch(lb.url).then((r) => r.text())));

describe('load balancer', () => {
  it('alternates requests between the backends', async () => {
    const { lb } = await fixture();
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push(await (await fetch(`${lb.url}/anything?i=${i}`)).text());
    expect(new Set(seen)).toEqual(new Set(['a', 'b']));
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
  });

  it('streams a POST body through intact, and adds X-Forwarded-For', async () => {
    const { lb } = await fixture();
    const body = randomBytes(3 * 1024 * 1024); // larger than any buffer on the way
    const res = await fetch(`${lb.url}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(body)).toBe(true);
    expect(res.headers.get('x-seen-forwarded-for')).toBe('127.0.0.1');
  });

  it('proxies a WebSocket', async () => {
    const { lb } = await fixture();
    const ws = new WebSocket(`${lb.url.replace('http', 'ws')}/ws`);
    const reply = new Promise<string>((resolve, reject) => {
      ws.once('message', (m) => resolve(m.toString()));
      ws.once('error', reject);
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send('hello');
    expect(await reply).toMatch(/^[ab]:hello$/);
    ws.close();
  });

  it('skips a backend that refuses connections', async () => {
    const { a, lb } = await fixture();
    await a.close();
    expect(await names(lb, 6)).toEqual(['b', 'b', 'b', 'b', 'b', 'b']);
    // A POST too: the refused connection is retried on the other backend with nothing of the body lost.
    const res = await fetch(`${lb.url}/echo`, { method: 'POST', body: 'payload' });
    expect(await res.text()).toBe('payload');
  });

  it('answers 502 TETHER_LB_NO_BACKEND when every backend is down, for HTTP and WebSocket', async () => {
    const { a, b, lb } = await fixture();
    await Promise.all([a.close(), b.close()]);
    const res = await fetch(lb.url);
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: 'TETHER_LB_NO_BACKEND', message: expect.any(String) });

    const ws = new WebSocket(`${lb.url.replace('http', 'ws')}/ws`);
    const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0)));
    expect(status).toBe(502);
  });
});
