/**
 * The completion webhook (config.notify) against a real server and a real receiver: signed, at least once, retried
 * with backoff until a 2xx (recorded try by try), stopped by a 410, cut when the receiver hangs, re-delivered on request,
 * and delivered after a SIGKILL that came between the final commit and the delivery.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Run } from '@tether/machine';
import { serve, type Served } from './helpers/fuzz-server.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ServerProcess, freePort } from './helpers/soak-server.ts';

const SECRET = 'notify-secret-notify-secret-notify-secret-01';

interface Delivery {
  headers: IncomingHttpHeaders;
  raw: string;
  body: { type: string; id: string; run: Run };
}

/** A webhook receiver: records every delivery, answers as `answer` says (a number, or 'hang'). */
class Receiver {
  readonly got: Delivery[] = [];
  answer: (n: number) => number | 'hang' = () => 200;
  private readonly server: Server;
  private waiters: (() => void)[] = [];
  url = '';
  constructor() {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        this.got.push({ headers: req.headers, raw, body: JSON.parse(raw) });
        for (const w of this.waiters.splice(0)) w();
        const a = this.answer(this.got.length);
        if (a !== 'hang') res.writeHead(a).end();
      });
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/tether`;
    return this;
  }
  async waitFor(n: number): Promise<void> {
    const end = Date.now() + 60_000;
    while (this.got.length < n) {
      if (Date.now() > end) throw new Error(`timed out waiting for delivery ${n}; got ${this.got.length}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 500);
      });
    }
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Stripe's scheme, checked here independently of the server's code. */
function verify(d: Delivery, secret = SECRET): boolean {
  const sig = String(d.headers['tether-signature'] ?? '');
  const t = /(?:^|,)t=(\d+)/.exec(sig)?.[1];
  const v1 = /(?:^|,)v1=([0-9a-f]{64})/.exec(sig)?.[1];
  if (!t || !v1) return false;
  return createHmac('sha256', secret).update(`${t}.${d.raw}`).digest('hex') === v1 && Math.abs(Date.now() / 1000 - Number(t)) < 300;
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});
async function setup(env: Record<string, string> = {}) {
  const ext = await new FakeExternalSystem().start();
  const rx = await new Receiver().start();
  const s: Served = await serve({ env: { TETHER_SECRET: SECRET, TETHER_NOTIFY_BACKOFF_MS: '50', ...env } });
  open.push(ext, rx, s);
  return { ext, rx, s };
}
async function finishedRun(s: Served, ext: FakeExternalSystem, notify: unknown, success = true): Promise<Run> {
  const run = (await s.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0, notify } })).json as Run;
  const t = await ext.waitFor(ext.received.length + 1);
  expect((await s.send('POST', t.body.callbackUrl, { json: { success, message: 'done', output: { rows: 42 } } })).status).toBe(200);
  return run;
}

describe('completion webhook', () => {
  it('fails twice then succeeds: three signed tries with one id and one Idempotency-Key, each recorded; delivered', async () => {
    const { ext, rx, s } = await setup();
    rx.answer = (n) => (n <= 2 ? 500 : 204);
    const run = await finishedRun(s, ext, { url: rx.url, headers: { Authorization: 'Bearer rx-token' } });
    await rx.waitFor(3);
    await s.idle();
    for (const d of rx.got) {
      expect(verify(d), 'Tether-Signature verifies over the raw body').toBe(true);
      expect(d.headers['idempotency-key']).toBe(`${run.id}.finished`);
      expect(d.headers['content-type']).toBe('application/json');
      expect(d.headers.authorization).toBe('Bearer rx-token');
      expect(d.body.type).toBe('run.finished');
      expect(d.body.run.id).toBe(run.id);
      expect(d.body.run.status).toBe('succeeded');
      expect(d.body.run.attempts[0]!.output).toEqual({ rows: 42 });
      expect(JSON.stringify(d.body.run.config.notify), 'header values are never sent back').not.toContain('rx-token');
    }
    expect(new Set(rx.got.map((d) => d.body.id)).size).toBe(1);
    const after = await s.run(run.id);
    expect(after.notification).toMatchObject({ state: 'delivered', attempts: 3, lastStatus: 204, lastError: null });
    const log = (await s.events(run.id)).filter((e) => e.type.startsWith('notify.'));
    expect(log.map((e) => [e.type, e.httpStatus])).toEqual([
      ['notify.failed', 500],
      ['notify.failed', 500],
      ['notify.delivered', 204],
    ]);
    expect(log[0]!.detail).toMatch(/try 1: HTTP 500 Internal Server Error in \d+ ms; next try in/);
    const listed = (await s.send('GET', '/api/runs')).json as { runs: { id: string; notification?: string }[] };
    expect(listed.runs[0]).toMatchObject({ id: run.id, notification: 'delivered' });
  });

  it('a 410 stops the tries; the attempts running out gives up too — both recorded, the run itself untouched', async () => {
    const { ext, rx, s } = await setup({ TETHER_NOTIFY_MAX_ATTEMPTS: '3' });
    rx.answer = () => 410;
    const gone = await finishedRun(s, ext, { url: rx.url }, false);
    await rx.waitFor(1);
    await s.idle();
    expect((await s.run(gone.id)).notification).toMatchObject({ state: 'failed', attempts: 1, lastStatus: 410 });
    expect((await s.run(gone.id)).status).toBe('failed');
    rx.answer = () => 503;
    const tired = await finishedRun(s, ext, { url: rx.url });
    await rx.waitFor(4);
    await s.idle();
    await new Promise((r) => setTimeout(r, 300));
    expect(rx.got.length, 'no fourth try for the second run').toBe(4);
    const n = (await s.run(tired.id)).notification;
    expect(n).toMatchObject({ state: 'failed', attempts: 3, lastStatus: 503 });
    expect((await s.events(tired.id)).at(-1)!.detail).toMatch(/gave up after 3 tries/);
  });

  it('a receiver that hangs is cut by the timeout and tried again; meanwhile other runs go on', async () => {
    const { ext, rx, s } = await setup({ TETHER_NOTIFY_TIMEOUT_MS: '300' });
    rx.answer = (n) => (n === 1 ? 'hang' : 200);
    const run = await finishedRun(s, ext, { url: rx.url });
    await rx.waitFor(1);
    // While the first try hangs, another run is created, triggered and completed.
    const other = await finishedRun(s, ext, undefined);
    expect((await s.run(other.id)).status).toBe('succeeded');
    await rx.waitFor(2);
    await s.idle();
    expect((await s.run(run.id)).notification).toMatchObject({ state: 'delivered', attempts: 2 });
    expect((await s.events(run.id)).find((e) => e.type === 'notify.failed')!.detail).toMatch(/no answer within 0.3 s/);
  });

  it('re-deliver: 202 and delivered again with the same id; 409 for a run without notify; 404 for none', async () => {
    const { ext, rx, s } = await setup();
    const run = await finishedRun(s, ext, { url: rx.url });
    await rx.waitFor(1);
    await s.idle();
    const r = await s.send('POST', `/api/runs/${run.id}/notification/redeliver`);
    expect(r.status).toBe(202);
    await rx.waitFor(2);
    await s.idle();
    expect(rx.got[1]!.body.id).toBe(rx.got[0]!.body.id);
    expect((await s.events(run.id)).map((e) => e.type)).toContain('notify.redeliver');
    const plain = await finishedRun(s, ext, undefined);
    expect((await s.send('POST', `/api/runs/${plain.id}/notification/redeliver`)).status).toBe(409);
    expect((await s.send('POST', `/api/runs/run_nope/notification/redeliver`)).status).toBe(404);
  });

  it('bad notify config: 400 naming every field at once; a host outside TETHER_ALLOWED_TARGETS is refused naming notify.url', async () => {
    const { ext, s } = await setup();
    const a = await s.send('POST', '/api/runs', {
      json: {
        target: { url: ext.url },
        timeoutSeconds: 5,
        retryLimit: 0,
        notify: { url: 'ftp://x/y', headers: { 'Content-Type': 'x' }, secret: 'no' },
      },
    });
    expect(a.status).toBe(400);
    const paths = (a.json as { error: { fields: { path: string }[] } }).error.fields.map((f) => f.path).sort();
    expect(paths).toEqual(['notify.headers.Content-Type', 'notify.secret', 'notify.url'].sort());
    const limited = await serve({ env: { TETHER_SECRET: SECRET, TETHER_ALLOWED_TARGETS: '127.0.0.1' } });
    open.push(limited);
    const b = await limited.send('POST', '/api/runs', {
      json: { target: { url: ext.url }, timeoutSeconds: 5, retryLimit: 0, notify: { url: 'https://elsewhere.example/hook' } },
    });
    expect(b.status).toBe(400);
    expect((b.json as { error: { code: string; fields: { path: string }[] } }).error).toMatchObject({
      code: 'TETHER_TARGET_NOT_ALLOWED',
      fields: [{ path: 'notify.url' }],
    });
  });

  it('SIGKILL between the final commit and the delivery: delivered after the restart, same id and Idempotency-Key', async () => {
    const ext = await new FakeExternalSystem().start();
    const rx = await new Receiver().start();
    open.push(ext, rx);
    rx.answer = (n) => (n === 1 ? 'hang' : 200);
    const dir = await mkdtemp(join(tmpdir(), 'tether-notify-crash-'));
    open.push({ close: () => rm(dir, { recursive: true, force: true }) });
    const proc = new ServerProcess({ port: await freePort(), dataDir: join(dir, 'data'), logFile: join(dir, 'log'), env: { TETHER_SECRET: SECRET } });
    open.push(proc);
    await proc.start();
    const run = (await (
      await fetch(`${proc.base}/api/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 0, notify: { url: rx.url } }),
      })
    ).json()) as Run;
    const t = await ext.waitFor(1);
    expect(
      (await fetch(t.body.callbackUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"success":true}' })).status,
    ).toBe(200);
    await rx.waitFor(1); // the final commit is durable (the callback was answered) and the first try is in flight
    await proc.kill();
    await proc.start();
    await rx.waitFor(2);
    expect([rx.got[1]!.body.id, rx.got[1]!.headers['idempotency-key']]).toEqual([rx.got[0]!.body.id, `${run.id}.finished`]);
    expect(verify(rx.got[1]!)).toBe(true);
    const deadline = Date.now() + 30_000;
    let n: Run['notification'];
    while (Date.now() < deadline) {
      n = ((await (await fetch(`${proc.base}/api/runs/${run.id}`)).json()) as Run).notification;
      if (n?.state === 'delivered') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(n).toMatchObject({ state: 'delivered', attempts: 1 });
  });
});
