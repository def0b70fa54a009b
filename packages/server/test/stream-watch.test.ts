/**
 * The stream's watch mode (`GET /api/stream?watch=1`), with real `ws` clients against a real listening server: an empty
 * snapshot, then only what the client's latest watch names — `run.summary` for the runs it shows, the `?runId=`
 * messages of the run it follows, `run.summary` for creations with `created`, `run.deleted` — each watch answered
 * with `watch.ok`; a frame that is not a watch closes the socket with 1008 and why. "Nothing arrived" is proved by a
 * later message on the same socket: one socket's messages keep their order, so a message that was due before it would
 * have come first.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Run, RunList, RunSummary, StreamMessage, StreamWatch } from '@tether/machine/protocol';
import { within } from './helpers/async.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { startServer, type StartOptions, type TestServer } from './helpers/http-app.ts';
import { StreamClient, openRawStream } from './helpers/http-ws.ts';

let ext: FakeExternalSystem;
let s: TestServer;
const clients: StreamClient[] = [];
const raws: WebSocket[] = [];

async function start(opts: StartOptions = {}): Promise<void> {
  ext = await new FakeExternalSystem().start();
  s = await startServer({ clock: new ManualClock(), ...opts });
}
beforeEach(() => start());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const w of raws.splice(0)) w.terminate();
  await s.close();
  await ext.close();
});

const wsUrl = (query: string) => `${s.base.replace(/^http/, 'ws')}/api/stream${query}`;
async function connect(query = '?watch=1'): Promise<StreamClient> {
  const c = await StreamClient.connect(wsUrl(query));
  clients.push(c);
  await c.waitFor('the snapshot', (m) => m.length >= 1);
  return c;
}

type Msg<T extends StreamMessage['type']> = Extract<StreamMessage, { type: T }>;
const ofType = <T extends StreamMessage['type']>(m: StreamMessage[], type: T): Msg<T>[] => m.filter((x): x is Msg<T> => x.type === type);
const summariesOf = (m: StreamMessage[], runId: string): RunSummary[] =>
  ofType(m, 'run.summary')
    .map((x) => x.summary)
    .filter((x) => x.id === runId);
/** Every message that is not a keep-alive ping. */
const real = (m: StreamMessage[]) => m.filter((x) => x.type !== 'ping');

/** Sends a watch and resolves once its `watch.ok` (the n-th answer on this socket) has arrived. */
async function watch(c: StreamClient, w: Omit<StreamWatch, 'type'>): Promise<Msg<'watch.ok'>> {
  const answered = ofType(c.messages, 'watch.ok').length;
  c.socket.send(JSON.stringify({ type: 'watch', ...w }));
  await c.waitFor('the watch answer', (m) => ofType(m, 'watch.ok').length > answered);
  return ofType(c.messages, 'watch.ok')[answered]!;
}

async function createRun(name: string): Promise<Run> {
  const run = await s.createRun({ name, target: { url: ext.url } });
  // Its trigger answered and committed: nothing of it is in flight when the test's own commits start.
  await s.idle();
  return run;
}

let beats = 0;
/** One more commit of `run`, its state unchanged: a heartbeat (each is recorded, with its progress). */
async function touch(run: Run): Promise<void> {
  const res = await s.post(run.attempts[0]!.heartbeatUrl!, { json: { progress: ++beats } });
  expect(res.status, res.text).toBe(200);
}

const cancel = async (run: Run) => expect((await s.post(`/api/runs/${run.id}/cancel`, { json: {} })).status).toBe(200);

const open = (query = '?watch=1') => openRawStream(wsUrl(query), raws);

/**
 * Resolves once the server has answered a ws ping on `c`'s socket: ws writes the pong on the socket that carries the
 * stream's frames, after whatever was written to it before, so anything sent before the ping has arrived by then.
 */
const pong = (c: StreamClient) =>
  within(
    new Promise<void>((res) => {
      c.socket.once('pong', () => res());
      c.socket.ping();
    }),
    5_000,
    'a pong',
  );

describe('GET /api/stream?watch=1', () => {
  it('sends an empty snapshot, then nothing about runs until a watch', async () => {
    const a = await createRun('a');
    const c = await connect();
    const [first] = c.messages;
    if (first?.type !== 'snapshot') throw new Error(`expected a snapshot first, got ${first?.type}`);
    const health = await s.request<{ bootId: string }>('GET', '/healthz');
    expect(first.bootId).toBe(health.body.bootId);
    expect(first.runs).toEqual([]);

    // A commit before any watch: not sent (its broadcast would come before the answer to the watch below).
    await touch(a);
    await s.idle();
    expect(await watch(c, { runs: [], run: null, created: false })).toEqual({ type: 'watch.ok', runs: 0, run: null, created: false });
    expect(real(c.messages).map((m) => m.type)).toEqual(['snapshot', 'watch.ok']);
  });

  it('runs: a run.summary after each commit of a watched run, nothing for the others', async () => {
    const [a, b, other] = [await createRun('a'), await createRun('b'), await createRun('other')];
    const c = await connect();
    // A repeated id counts once.
    expect(await watch(c, { runs: [a.id, b.id, a.id], run: null, created: false })).toEqual({ type: 'watch.ok', runs: 2, run: null, created: false });

    await touch(a);
    await c.waitFor('a’s summary', (m) => summariesOf(m, a.id).length === 1);
    const [line] = summariesOf(c.messages, a.id);
    // The list line as GET /api/runs lists it now, and no run view.
    const listed = (await s.request<RunList>('GET', '/api/runs')).body.runs.find((r) => r.id === a.id);
    expect(line).toEqual(listed);
    expect(Object.keys(ofType(c.messages, 'run.summary')[0]!).sort()).toEqual(['summary', 'type']);

    // An unwatched run's commit, then one of a: once a’s has arrived, the other's would have too.
    await touch(other);
    await s.idle();
    await cancel(b);
    await touch(a);
    await c.waitFor('a’s second summary', (m) => summariesOf(m, a.id).length === 2);
    await c.waitFor('b cancelled', (m) => summariesOf(m, b.id).some((x) => x.status === 'cancelled'));
    expect(summariesOf(c.messages, other.id)).toEqual([]);
    // Only list lines: no run view, no events.
    expect([...new Set(real(c.messages).map((m) => m.type))].sort()).toEqual(['run.summary', 'snapshot', 'watch.ok']);
  });

  it('a new watch replaces the previous one', async () => {
    const [a, b] = [await createRun('a'), await createRun('b')];
    const c = await connect();
    await watch(c, { runs: [a.id], run: null, created: false });
    await touch(a);
    await c.waitFor('a’s summary', (m) => summariesOf(m, a.id).length === 1);

    await watch(c, { runs: [b.id], run: null, created: false });
    const answeredAt = c.messages.length;
    await touch(a);
    await s.idle();
    await touch(b);
    await c.waitFor('b’s summary', (m) => summariesOf(m, b.id).length === 1);
    const since = c.messages.slice(answeredAt);
    expect(summariesOf(since, a.id)).toEqual([]);
    expect(real(since).map((m) => m.type)).toEqual(['run.summary']);
  });

  it('run: the same run.updated and run.event messages as ?runId=, and nothing of another run', async () => {
    const [a, other] = [await createRun('a'), await createRun('other')];
    const legacy = await connect(`?runId=${a.id}`);
    const c = await connect();
    expect(await watch(c, { runs: [], run: a.id, created: false })).toEqual({ type: 'watch.ok', runs: 0, run: a.id, created: false });

    await touch(other);
    await touch(a);
    await s.idle();
    await cancel(a);
    const cancelled = (m: StreamMessage[]) => ofType(m, 'run.updated').some((x) => x.run.status === 'cancelled');
    await c.waitFor('a cancelled', cancelled);
    await legacy.waitFor('a cancelled (legacy)', cancelled);
    // The events of the final commit follow its run.updated in the same write: a pong comes after them.
    await Promise.all([pong(c), pong(legacy)]);

    const mine = real(c.messages).filter((m) => m.type !== 'snapshot' && m.type !== 'watch.ok');
    expect(mine.map((m) => m.type)).toEqual(['run.updated', 'run.event', 'run.updated', 'run.event']);
    expect(mine).toEqual(real(legacy.messages).slice(1));
    expect(ofType(mine, 'run.updated').at(-1)!.run).toEqual(await s.run(a.id));
    expect(ofType(mine, 'run.event').map((e) => e.event.type)).toEqual(['heartbeat.received', 'run.cancel']);
  });

  it('created: a run.summary for each run’s creating commit only', async () => {
    const c = await connect();
    await watch(c, { runs: [], run: null, created: true });
    const n = await s.createRun({ name: 'new', target: { url: ext.url } });
    await c.waitFor('the new run’s summary', (m) => summariesOf(m, n.id).length === 1);
    const [first] = summariesOf(c.messages, n.id);
    expect(first).toMatchObject({ id: n.id, name: 'new', createdAt: n.createdAt });
    // Its trigger's commit (awaitingCallback) is not a creation: once the next run's creation has arrived, no more of n.
    await s.idle();
    const next = await createRun('next');
    await c.waitFor('the next run’s summary', (m) => summariesOf(m, next.id).length === 1);
    expect(summariesOf(c.messages, n.id)).toHaveLength(1);

    // Off again: no more creations.
    await watch(c, { runs: [], run: null, created: false });
    const answeredAt = c.messages.length;
    const later = await createRun('later');
    await watch(c, { runs: [later.id], run: null, created: false });
    await touch(later);
    await c.waitFor('the later run’s commit', (m) => summariesOf(m, later.id).length === 1);
    expect(summariesOf(c.messages.slice(answeredAt), later.id)).toHaveLength(1);
    expect(summariesOf(c.messages.slice(answeredAt), later.id)[0]!.state).toBe('awaitingCallback');
  });

  it('run.deleted for a watched run deleted (DELETE, retention), to watch-mode clients only', async () => {
    const [a, b, kept] = [await createRun('a'), await createRun('b'), await createRun('kept')];
    await cancel(a);
    await cancel(b);
    const list = await connect('');
    const legacy = await connect(`?runId=${b.id}`);
    const c = await connect();
    // b both ways: told once.
    await watch(c, { runs: [a.id, b.id], run: b.id, created: false });

    expect((await s.request('DELETE', `/api/runs/${a.id}`)).status).toBe(204);
    await c.waitFor('a deleted', (m) => ofType(m, 'run.deleted').length === 1);
    expect(ofType(c.messages, 'run.deleted')).toEqual([{ type: 'run.deleted', runId: a.id }]);
    // No commit since: a list snapshot taken now no longer holds it (the cached one did).
    const late = await connect('');
    expect((late.messages[0] as Msg<'snapshot'>).runs.map((r) => r.id).sort()).toEqual([b.id, kept.id].sort());
    // Retention deletes through the same path.
    expect(await s.app.tether.engine.sweepFinishedBefore(s.clock!.now() + 1)).toBe(1);
    await c.waitFor('b deleted', (m) => ofType(m, 'run.deleted').length === 2);
    await touch(kept);
    await pong(c);
    expect(ofType(c.messages, 'run.deleted')).toEqual([
      { type: 'run.deleted', runId: a.id },
      { type: 'run.deleted', runId: b.id },
    ]);

    // The legacy modes are not told: both deletions were broadcast before the pongs.
    await Promise.all([pong(list), pong(legacy)]);
    expect(ofType(list.messages, 'run.deleted')).toEqual([]);
    expect(real(legacy.messages).map((m) => m.type)).toEqual(['snapshot']);
  });

  it('closes a frame that is not a watch with 1008 and a reason naming the problem', async () => {
    const id = (n: number) => `run_${'x'.repeat(n - 4)}`;
    const watchOf = (w: Record<string, unknown>) => JSON.stringify({ type: 'watch', runs: [], run: null, created: false, ...w });
    const cases: [string | Buffer, string | RegExp][] = [
      ['{"type":"watch"', 'bad watch: not JSON'],
      [Buffer.from(watchOf({})), 'bad watch: a binary frame; send JSON text'],
      ['[]', 'bad watch: not a JSON object'],
      ['{"type":"subscribe","runs":[]}', 'bad message: type must be "watch", got "subscribe"'],
      [watchOf({ runs: Array.from({ length: 600 }, (_, i) => `run_${i}`) }), 'bad watch: runs has 600 ids, at most 500'],
      [watchOf({ runs: ['run_1', 7] }), 'bad watch: runs.1 must be string'],
      [watchOf({ runs: [id(101)] }), 'bad watch: runs.0 must not have more than 100 characters'],
      [watchOf({ run: id(101) }), 'bad watch: run must be a run id (a string of 1-100 characters) or null'],
      [watchOf({ created: 'yes' }), 'bad watch: created must be boolean'],
      [JSON.stringify({ type: 'watch', runs: [], run: null }), 'bad watch: missing created'],
      [watchOf({ runId: 'run_1' }), 'bad watch: unknown field "runId"'],
      // A long field name is cut to what a close frame holds.
      [watchOf({ ['é'.repeat(200)]: 1 }), /^bad watch: unknown field "é+$/],
    ];
    for (const [frame, reason] of cases) {
      const c = open();
      await c.opened;
      c.ws.send(frame, { binary: Buffer.isBuffer(frame) });
      const closed = await within(c.closed, 5_000, `the close for ${String(frame).slice(0, 40)}`);
      expect(closed.code, String(frame).slice(0, 40)).toBe(1008);
      if (typeof reason === 'string') expect(closed.reason).toBe(reason);
      else expect(closed.reason).toMatch(reason);
      expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
      expect(c.messages.map((m) => m.type)).toEqual(['snapshot']);
    }
    // Each closed client left: its slot is free.
    expect(s.app.tether.streamClients()).toBe(0);

    // Over 64 KiB the WebSocket layer (ws's maxPayload) refuses it before the route sees it: 1009, message too big.
    const big = open();
    await big.opened;
    big.ws.send(watchOf({ runs: ['x'.repeat(70_000)] }));
    expect((await within(big.closed, 5_000, 'the close for a big frame')).code).toBe(1009);
  });

  it('counts toward TETHER_STREAM_MAX_CLIENTS and ignores what list and ?runId= clients send', async () => {
    await s.close();
    await ext.close();
    await start({ settings: { streamMaxClients: 2 } });
    const a = await createRun('a');
    const c = await connect();
    const legacy = await connect(`?runId=${a.id}`);
    const over = open();
    await over.opened;
    expect((await within(over.closed, 5_000, 'the client over the cap to be closed')).code).toBe(1013);

    // A legacy client's message, even a watch, changes nothing: it still hears its run, and is not answered.
    legacy.socket.send(JSON.stringify({ type: 'watch', runs: [], run: null, created: false }));
    legacy.socket.send('not json');
    await watch(c, { runs: [a.id], run: null, created: false });
    await touch(a);
    await legacy.waitFor('a’s update', (m) => ofType(m, 'run.updated').length === 1);
    await c.waitFor('a’s summary', (m) => summariesOf(m, a.id).length === 1);
    expect(real(legacy.messages).map((m) => m.type)).toEqual(['snapshot', 'run.updated', 'run.event']);
  });
});
