/**
 * The client's side of server features added alongside it: `Idempotency-Key` on `POST /api/runs` (and on rerun),
 * `?wait=` long polls on `GET /api/runs/:id` and `POST /api/runs`, and the signed completion webhook
 * (`config.notify`, verified with `verifyNotification`). Against a server without one of them these fail (it ignores
 * the header and the query parameter, or refuses `notify` as an unknown field): they pass once it has them.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tether, TetherError, verifyNotification, type Run, type RunConfig } from '../src/index.ts';
import { runCli } from './helpers/cli.ts';
import { SECRET, simulated, startServer, type TestServer } from './helpers/server.ts';
import { countingFetch } from './helpers/counting-fetch.ts';

let s: TestServer;
let tether: Tether;
beforeAll(async () => {
  s = await startServer();
  tether = new Tether({ baseUrl: s.base });
});
afterAll(async () => {
  await s?.close();
});

async function runsNamed(name: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const r of tether.runs.list({ name })) ids.push(r.id);
  return ids;
}

describe('Idempotency-Key', () => {
  it('create() with the same key twice returns the same run and starts one', async () => {
    const name = `idem-${randomUUID()}`;
    const key = randomUUID();
    const config = simulated(s.base, { outcome: 'never' }, { name, timeoutSeconds: 60 });
    const a = await tether.runs.create(config, { idempotencyKey: key });
    const b = await tether.runs.create(config, { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    const c = await tether.runs.create(config, { idempotencyKey: randomUUID() });
    expect(c.id).not.toBe(a.id);
    expect((await runsNamed(name)).sort()).toEqual([a.id, c.id].sort());
    await Promise.all([a.id, c.id].map((id) => tether.runs.cancel(id)));
  });

  it('the same key with another config is TETHER_IDEMPOTENCY_KEY_REUSED (422)', async () => {
    const key = randomUUID();
    const a = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }), { idempotencyKey: key });
    const e = await tether.runs
      .create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 61 }), { idempotencyKey: key })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TetherError);
    expect(e).toMatchObject({ code: 'TETHER_IDEMPOTENCY_KEY_REUSED', status: 422 });
    await tether.runs.cancel(a.id);
  });

  it('rerun() with the same key twice makes one new run', async () => {
    const original = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    await tether.runs.cancel(original.id);
    const key = randomUUID();
    const a = await tether.runs.rerun(original.id, { idempotencyKey: key });
    const b = await tether.runs.rerun(original.id, { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    await tether.runs.cancel(a.id);
  });

  it('the CLI: `runs start --idempotency-key K` twice prints the same run', async () => {
    const key = randomUUID();
    const args = ['runs', 'start', '--json', '--target', `${s.base}/simulator/jobs`, '--timeout', '60', '--retries', '0'];
    const payload = ['--payload', JSON.stringify({ simulate: { outcome: 'never' } }), '--idempotency-key', key];
    const first = await runCli([...args, ...payload], { TETHER_URL: s.base });
    const second = await runCli([...args, ...payload], { TETHER_URL: s.base });
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    const a = JSON.parse(first.stdout) as Run;
    expect((JSON.parse(second.stdout) as Run).id).toBe(a.id);
    await tether.runs.cancel(a.id);
  });
});

describe('?wait=', () => {
  it('get(id, { waitSeconds }) answers once the run is final, in one request', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'success', delaySeconds: 1 }));
    const started = Date.now();
    const got = await tether.runs.get(run.id, { waitSeconds: 20 });
    expect(got.status).toBe('succeeded');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('get(id, { waitSeconds }) on a run that stays open answers after about the wait, not at once', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    const started = Date.now();
    const got = await tether.runs.get(run.id, { waitSeconds: 2 });
    expect(got.status).toBe('running');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    await tether.runs.cancel(run.id);
  });

  it('create(config, { waitSeconds }) answers with the run already final', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'success', delaySeconds: 0.5 }), { waitSeconds: 20 });
    expect(run.status).toBe('succeeded');
  });

  it('result() long-polls: a run that takes ~2 s costs a request or two, not a poll every 250 ms', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'success', delaySeconds: 2 }));
    const counted = countingFetch();
    const final = await new Tether({ baseUrl: s.base, fetch: counted.fetch }).runs.result(run.id, { timeoutMs: 30_000 });
    expect(final.status).toBe('succeeded');
    expect(counted.calls.every((c) => /\?wait=[\d.]+$/.test(c))).toBe(true);
    expect(counted.calls.length).toBeLessThanOrEqual(2);
  });
});

describe('the completion webhook (config.notify)', () => {
  it('is delivered signed, and verifyNotification checks it with the server secret and returns the final run', async () => {
    const got: { headers: IncomingHttpHeaders; raw: string }[] = [];
    const receiver = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8').on('data', (c: string) => (raw += c));
      req.on('end', () => {
        got.push({ headers: req.headers, raw });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks/tether`;
      const config = { ...simulated(s.base, { outcome: 'success', delaySeconds: 0.2 }), notify: { url } };
      const run = await tether.runs.create(config as RunConfig);
      await tether.runs.result(run.id, { timeoutMs: 20_000 });
      const deadline = Date.now() + 20_000;
      while (!got.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(got).toHaveLength(1);
      const n = await verifyNotification(SECRET, got[0]!.headers, got[0]!.raw);
      expect(n).toMatchObject({ type: 'run.finished', run: { id: run.id, status: 'succeeded' } });
      expect(typeof n.id).toBe('string');
      // Any other secret, or a body changed by one byte, does not verify.
      await expect(verifyNotification('another-secret', got[0]!.headers, got[0]!.raw)).rejects.toMatchObject({ code: 'TETHER_SIGNATURE_INVALID' });
      await expect(verifyNotification(SECRET, got[0]!.headers, `${got[0]!.raw} `)).rejects.toMatchObject({ code: 'TETHER_SIGNATURE_INVALID' });
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  });
});
