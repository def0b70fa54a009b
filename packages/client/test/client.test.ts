/**
 * The client against a real Tether server (in-process, ephemeral port) and its built-in simulator: every call is real
 * HTTP or a real WebSocket. Only the server's existing API is used here; features still being added to the server
 * (Idempotency-Key, `?wait=`) are in server-features.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { WebSocket as Ws } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tether, TetherError, type FetchLike, type WatchMessage, type WebSocketConstructor } from '../src/index.ts';
import { fakeExternal, simulated, startServer, type FakeExternal, type TestServer } from './helpers/server.ts';
import { countingFetch } from './helpers/counting-fetch.ts';

let s: TestServer;
let tether: Tether;
let ext: FakeExternal;

beforeAll(async () => {
  s = await startServer();
  tether = new Tether({ baseUrl: s.base });
  ext = await fakeExternal();
});
afterAll(async () => {
  await ext?.close();
  await s?.close();
});

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<TetherError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TetherError);
    return e as TetherError;
  }
  throw new Error('expected a TetherError, but the call succeeded');
}

/** The last run.updated of a watch. */
const lastUpdate = (messages: WatchMessage[]) => messages.filter((m) => m.type === 'run.updated').at(-1);

async function collect(it: AsyncIterable<WatchMessage>): Promise<WatchMessage[]> {
  const all: WatchMessage[] = [];
  for await (const m of it) all.push(m);
  return all;
}

describe('runs: create, get, list, cancel, rerun, events', () => {
  it('creates a run and reads it back', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { name: 'create-get', timeoutSeconds: 30 }));
    expect(run.id).toMatch(/^run_/);
    expect(run.status).toBe('running');
    const got = await tether.runs.get(run.id);
    expect(got).toMatchObject({ id: run.id, name: 'create-get', maxAttempts: 1, status: 'running' });
    expect(got.config.target.url).toBe(`${s.base}/simulator/jobs`);
    await tether.runs.cancel(run.id);
  });

  it('list() iterates every run across pages; listPage() gives one page and its cursor', async () => {
    const name = `page-${randomUUID()}`;
    const made: string[] = [];
    for (let i = 0; i < 7; i++)
      made.push((await tether.runs.create(simulated(s.base, { outcome: 'never' }, { name: `${name}-${i}`, timeoutSeconds: 30 }))).id);

    const first = await tether.runs.listPage({ name, limit: 3 });
    expect(first.runs).toHaveLength(3);
    expect(first.nextCursor).not.toBeNull();
    const second = await tether.runs.listPage({ name, limit: 3, cursor: first.nextCursor });
    expect(second.runs.map((r) => r.id)).not.toContain(first.runs[0]!.id);

    const counted = countingFetch();
    const paged = new Tether({ baseUrl: s.base, fetch: counted.fetch });
    const seen: string[] = [];
    for await (const r of paged.runs.list({ name, limit: 3 })) seen.push(r.id);
    // Newest first, each exactly once, over three pages (3 + 3 + 1).
    expect(seen).toEqual([...made].reverse());
    expect(counted.calls.filter((c) => c.startsWith('GET /api/runs?'))).toHaveLength(3);

    const only = [];
    for await (const r of tether.runs.list({ name, status: 'cancelled' })) only.push(r);
    expect(only).toEqual([]);
    await Promise.all(made.map((id) => tether.runs.cancel(id)));
    const cancelled = [];
    for await (const r of tether.runs.list({ name, status: 'cancelled', limit: 2 })) cancelled.push(r.id);
    expect(cancelled.sort()).toEqual([...made].sort());
  });

  it('cancel() with a reason; cancelling a final run is TETHER_RUN_FINAL (409)', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 30 }));
    const cancelled = await tether.runs.cancel(run.id, 'changed my mind');
    expect(cancelled.status).toBe('cancelled');
    const events = await tether.runs.events(run.id);
    expect(events.some((e) => e.type === 'run.cancel' && e.verdict === 'applied')).toBe(true);
    const e = await rejection(tether.runs.cancel(run.id));
    expect(e).toMatchObject({ code: 'TETHER_RUN_FINAL', status: 409, fields: [] });
  });

  it('rerun() makes a new run with the same config, the payload replaced when given', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'success' }, { name: 'rerun-me' }));
    await tether.runs.result(run.id, { timeoutMs: 20_000 });
    const again = await tether.runs.rerun(run.id);
    expect(again).toMatchObject({ name: 'rerun-me', rerunOf: run.id });
    expect(again.id).not.toBe(run.id);
    expect(again.config.payload).toEqual(run.config.payload);
    const replaced = await tether.runs.rerun(run.id, { payload: { simulate: { outcome: 'failure', delaySeconds: 0.05 } } });
    expect(replaced.config.payload).toEqual({ simulate: { outcome: 'failure', delaySeconds: 0.05 } });
    expect((await tether.runs.result(replaced.id, { timeoutMs: 20_000 })).status).toBe('failed');
  });

  it('events() is the run log in seq order', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'success' }));
    await tether.runs.result(run.id, { timeoutMs: 20_000 });
    const events = await tether.runs.events(run.id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['run.start', 'callback.received']));
    expect(events.at(-1)?.stateAfter).toBe('succeeded');
  });
});

describe('errors', () => {
  it('a bad config is TETHER_VALIDATION with every wrong field in `fields`', async () => {
    const e = await rejection(
      tether.runs.create({ target: { url: 'not a url' }, timeoutSeconds: 0, retryLimit: -1, bogus: true } as never as Parameters<
        typeof tether.runs.create
      >[0]),
    );
    expect(e.code).toBe('TETHER_VALIDATION');
    expect(e.status).toBe(400);
    expect(e.isApiError).toBe(true);
    expect(e.fields.map((f) => f.path).sort()).toEqual(['bogus', 'retryLimit', 'target.url', 'timeoutSeconds']);
    for (const f of e.fields) expect(f.message).not.toBe('');
    expect(e.message).toContain('timeoutSeconds');
  });

  it('an unknown run is TETHER_RUN_NOT_FOUND (404); retry-now outside backoff is TETHER_NOT_IN_BACKOFF (409)', async () => {
    expect(await rejection(tether.runs.get('run_nope'))).toMatchObject({ code: 'TETHER_RUN_NOT_FOUND', status: 404 });
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 30 }));
    expect(await rejection(tether.runs.retryNow(run.id))).toMatchObject({ code: 'TETHER_NOT_IN_BACKOFF', status: 409 });
    await tether.runs.cancel(run.id);
  });

  it('no server is TETHER_CLIENT_NETWORK with status 0', async () => {
    const gone = await startServer();
    const base = gone.base;
    await gone.close();
    const e = await rejection(new Tether({ baseUrl: base }).runs.get('run_x'));
    expect(e).toMatchObject({ code: 'TETHER_CLIENT_NETWORK', status: 0, isApiError: false });
  });

  it('a non-Tether answer is TETHER_CLIENT_BAD_RESPONSE with its status', async () => {
    const proxy: FetchLike = async () => new Response('<html>Bad gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } });
    const e = await rejection(new Tether({ baseUrl: s.base, fetch: proxy }).runs.get('run_x'));
    expect(e).toMatchObject({ code: 'TETHER_CLIENT_BAD_RESPONSE', status: 502 });
  });
});

describe('the token', () => {
  let secured: TestServer;
  beforeAll(async () => {
    secured = await startServer({ TETHER_API_TOKEN: 'sesame-sesame' });
  });
  afterAll(async () => {
    await secured?.close();
  });

  it('is sent as Authorization: Bearer, to the API and to the stream', async () => {
    expect(await rejection(new Tether({ baseUrl: secured.base }).runs.listPage())).toMatchObject({ code: 'TETHER_UNAUTHORIZED', status: 401 });
    const authed = new Tether({ baseUrl: secured.base, token: 'sesame-sesame' });
    const run = await authed.runs.create(simulated(secured.base, { outcome: 'success', delaySeconds: 0.3 }));
    const messages = await collect(authed.runs.watch(run.id));
    expect(lastUpdate(messages)).toMatchObject({ run: { status: 'succeeded' } });
    // A refused stream is reported with the API's reason, not retried for ever.
    const e = await rejection(collect(new Tether({ baseUrl: secured.base, token: 'wrong' }).runs.watch(run.id)));
    expect(e).toMatchObject({ code: 'TETHER_UNAUTHORIZED', status: 401 });
  });
});

describe('result()', () => {
  it('resolves with the final run: succeeded and failed, from the simulator', async () => {
    const ok = await tether.runs.create(simulated(s.base, { outcome: 'success', delaySeconds: 0.3 }));
    const bad = await tether.runs.create(simulated(s.base, { outcome: 'failure', delaySeconds: 0.3, retryable: false }, { retryLimit: 2 }));
    const [okRun, badRun] = await Promise.all([tether.runs.result(ok.id, { timeoutMs: 20_000 }), tether.runs.result(bad.id, { timeoutMs: 20_000 })]);
    expect(okRun).toMatchObject({ status: 'succeeded', state: 'succeeded' });
    expect(okRun.attempts[0]).toMatchObject({ state: 'CallbackSuccess', output: { simulated: true, attempt: 1 } });
    expect(badRun).toMatchObject({ status: 'failed', failureReason: 'notRetryable' });
  });

  it('a retried run: attempt 1 never called back, attempt 2 succeeds (the seed scenario)', async () => {
    const run = await tether.runs.create(simulated(s.base, { perAttempt: ['never', 'success'] }, { timeoutSeconds: 0.5, retryLimit: 2 }));
    const final = await tether.runs.result(run.id, { timeoutMs: 20_000 });
    expect(final.status).toBe('succeeded');
    expect(final.attempts.map((a) => a.state)).toEqual(['TimedOut', 'CallbackSuccess']);
  });

  it('gives up after timeoutMs with TETHER_CLIENT_TIMEOUT, and never spins while it waits', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    const counted = countingFetch();
    const started = Date.now();
    const e = await rejection(new Tether({ baseUrl: s.base, fetch: counted.fetch }).runs.result(run.id, { timeoutMs: 1500 }));
    const took = Date.now() - started;
    expect(e.code).toBe('TETHER_CLIENT_TIMEOUT');
    expect((e.body as { id: string }).id).toBe(run.id);
    expect(took).toBeGreaterThanOrEqual(1500);
    expect(took).toBeLessThan(5000);
    expect(counted.calls.length).toBeGreaterThanOrEqual(1);
    expect(counted.calls.length).toBeLessThanOrEqual(10);
    await tether.runs.cancel(run.id);
  });

  it('works against a server that ignores ?wait= (answers at once): polls every 250 ms, never spins', async () => {
    // The same server, but every `wait` is cut from the URL on the way: the answer comes back at once.
    const counted = countingFetch();
    const noWait: FetchLike = (input, init) => {
      const u = new URL(input);
      u.searchParams.delete('wait');
      return counted.fetch(u.href, init);
    };
    const old = new Tether({ baseUrl: s.base, fetch: noWait });
    const run = await old.runs.create(simulated(s.base, { outcome: 'success', delaySeconds: 1 }));
    const started = Date.now();
    const final = await old.runs.result(run.id, { timeoutMs: 20_000 });
    expect(final.status).toBe('succeeded');
    const polls = counted.calls.filter((c) => c.startsWith(`GET /api/runs/${run.id}`));
    expect(polls.every((c) => !c.includes('wait='))).toBe(true);
    // About one poll per 250 ms while it ran (~1 s), with room for a slow machine; thousands would mean a spin.
    expect(polls.length).toBeGreaterThanOrEqual(2);
    expect(polls.length).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 250) + 2);

    const never = await old.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    counted.calls.length = 0;
    expect((await rejection(old.runs.result(never.id, { timeoutMs: 1000 }))).code).toBe('TETHER_CLIENT_TIMEOUT');
    expect(counted.calls.length).toBeLessThanOrEqual(6);
    await tether.runs.cancel(never.id);
  });

  it('a cancelled run is final too', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    const waiting = tether.runs.result(run.id, { timeoutMs: 20_000 });
    await tether.runs.cancel(run.id, 'stop');
    expect((await waiting).status).toBe('cancelled');
  });
});

describe('delete() and redeliverNotification()', () => {
  it('deletes a final run (then 404), refuses an active one with TETHER_RUN_NOT_FINAL; redeliver without notify is TETHER_NO_NOTIFICATION', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    expect(await rejection(tether.runs.delete(run.id))).toMatchObject({ code: 'TETHER_RUN_NOT_FINAL', status: 409 });
    await tether.runs.cancel(run.id);
    expect(await rejection(tether.runs.redeliverNotification(run.id))).toMatchObject({ code: 'TETHER_NO_NOTIFICATION', status: 409 });
    await tether.runs.delete(run.id);
    expect(await rejection(tether.runs.get(run.id))).toMatchObject({ code: 'TETHER_RUN_NOT_FOUND', status: 404 });
  });
});

describe('watch()', () => {
  it('yields the snapshot, then run.updated until the run is final', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'success', delaySeconds: 0.5 }));
    const messages = await collect(tether.runs.watch(run.id));
    expect(messages[0]).toMatchObject({ type: 'snapshot', runs: [{ id: run.id }] });
    const updates = messages.filter((m) => m.type === 'run.updated');
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(lastUpdate(messages)).toMatchObject({ run: { id: run.id, status: 'succeeded' } });
    // The events of the final commit follow its run.updated, and end the watch.
    const final = messages.indexOf(lastUpdate(messages)!);
    expect(messages.slice(final + 1).every((m) => m.type === 'run.event')).toBe(true);
    expect(messages.some((m) => m.type === 'run.event' && m.event.type === 'callback.received')).toBe(true);
    expect(messages.every((m) => (m.type === 'snapshot' ? true : m.type === 'run.updated' ? m.run.id === run.id : m.runId === run.id))).toBe(true);
  });

  it('a run that is already final ends after the snapshot; an unknown run is TETHER_RUN_NOT_FOUND', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 30 }));
    await tether.runs.cancel(run.id);
    const messages = await collect(tether.runs.watch(run.id));
    expect(messages).toEqual([expect.objectContaining({ type: 'snapshot', runs: [expect.objectContaining({ id: run.id, status: 'cancelled' })] })]);
    expect(await rejection(collect(tether.runs.watch('run_unknown')))).toMatchObject({ code: 'TETHER_RUN_NOT_FOUND', status: 404 });
  });

  it('reconnects with backoff when the socket drops, and still ends when the run is final', async () => {
    // A WebSocket whose first two connections are cut right after their first message.
    let opened = 0;
    const Dropping = function (url: string) {
      const ws = new Ws(url);
      if (++opened <= 2) ws.once('message', () => ws.terminate());
      return ws;
    } as unknown as WebSocketConstructor;
    const reconnects: { attempt: number; delayMs: number; reason: string }[] = [];
    const client = new Tether({ baseUrl: s.base, WebSocket: Dropping });
    const run = await client.runs.create(simulated(s.base, { outcome: 'success', delaySeconds: 1.5 }));
    const messages = await collect(client.runs.watch(run.id, { initialDelayMs: 50, onReconnect: (r) => reconnects.push(r) }));
    expect(opened).toBe(3);
    expect(reconnects).toHaveLength(2);
    expect(reconnects.every((r) => r.attempt === 1 && r.delayMs === 50)).toBe(true);
    expect(messages.filter((m) => m.type === 'snapshot')).toHaveLength(3);
    expect(lastUpdate(messages)).toMatchObject({ run: { status: 'succeeded' } });
  });

  it('stops on its AbortSignal', async () => {
    const run = await tether.runs.create(simulated(s.base, { outcome: 'never' }, { timeoutSeconds: 60 }));
    const ac = new AbortController();
    const seen: WatchMessage[] = [];
    const watching = (async () => {
      for await (const m of tether.runs.watch(run.id, { signal: ac.signal })) {
        seen.push(m);
        ac.abort(new Error('enough'));
      }
    })();
    await expect(watching).rejects.toThrow('enough');
    expect(seen[0]?.type).toBe('snapshot');
    await tether.runs.cancel(run.id);
  });
});

describe("the external system's side: callback() and heartbeat()", () => {
  it('heartbeats carry progress; the callback settles the attempt; duplicates, conflicts and late ones are told apart', async () => {
    const run = await tether.runs.create({
      name: 'external',
      target: { url: ext.url },
      timeoutSeconds: 30,
      heartbeatTimeoutSeconds: 20,
      retryLimit: 0,
    });
    const { body, headers } = await ext.nextTrigger();
    expect(body).toMatchObject({ runId: run.id, attempt: 1 });
    expect(headers['idempotency-key']).toBe(body.attemptId);

    const hb = await tether.heartbeat(body.heartbeatUrl, { percent: 40 });
    expect(hb.result).toBe('accepted');
    expect((await tether.runs.get(run.id)).attempts[0]).toMatchObject({ progress: { percent: 40 }, state: 'AwaitingCallback' });

    const forged = new URL(body.callbackUrl);
    forged.searchParams.set('sig', 'AAAA');
    expect(await rejection(tether.callback(forged.href, { success: true }))).toMatchObject({ code: 'TETHER_CALLBACK_UNAUTHORIZED', status: 401 });

    const bad = await rejection(tether.callback(body.callbackUrl, { success: 'yes', extra: 1 } as never));
    expect(bad).toMatchObject({ code: 'TETHER_CALLBACK_INVALID', status: 400 });
    expect(bad.fields.map((f) => f.path).sort()).toEqual(['extra', 'success']);

    const done = { success: true, message: 'job 7 done', output: { rows: 12 } };
    expect(await tether.callback(body.callbackUrl, done)).toMatchObject({ result: 'accepted', attemptId: body.attemptId });
    expect(await tether.callback(body.callbackUrl, done)).toMatchObject({ result: 'duplicate' });
    const other = await rejection(tether.callback(body.callbackUrl, { success: false }));
    expect(other.status).toBeGreaterThanOrEqual(400);
    expect(other.code).toMatch(/^TETHER_CALLBACK_(CONFLICT|LATE)$/);
    const late = await rejection(tether.heartbeat(body.heartbeatUrl));
    expect(late).toMatchObject({ code: 'TETHER_HEARTBEAT_LATE', status: 410 });

    const final = await tether.runs.get(run.id);
    expect(final.status).toBe('succeeded');
    expect(final.attempts[0]).toMatchObject({ state: 'CallbackSuccess', message: 'job 7 done', output: { rows: 12 } });
  });

  it('the operator: forceTimeout(), retryNow() and complete()', async () => {
    const run = await tether.runs.create({ target: { url: ext.url }, timeoutSeconds: 30, retryLimit: 1, backoff: { initialSeconds: 60 } });
    const first = await ext.nextTrigger();
    const timedOut = await tether.runs.forceTimeout(run.id, first.body.attemptId);
    expect(timedOut).toMatchObject({ state: 'retrying' });
    expect(timedOut.attempts[0]!.state).toBe('TimedOut');
    const retried = await tether.runs.retryNow(run.id);
    expect(retried.attempt).toBe(2);
    const second = await ext.nextTrigger();
    expect(second.body.attempt).toBe(2);
    const done = await tether.runs.complete(run.id, second.body.attemptId, { success: true, message: 'by hand' });
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(done.attempts[1]).toMatchObject({ state: 'CallbackSuccess', message: 'by hand' });
    expect(await rejection(tether.runs.complete(run.id, second.body.attemptId, { success: true }))).toMatchObject({ status: 409 });
  });
});
