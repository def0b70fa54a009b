/**
 * The live stream with real `ws` clients against a real listening server: a snapshot first, then every committed state
 * of a run in order, and for a client subscribed to one run, its event log entries in seq order and nothing about other
 * runs. Limits (client cap, slow readers) are in hostile.stream.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Run, RunEventEntry, RunList, StreamMessage } from '@tether/machine/protocol';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { splitCallbackUrl, startServer, type TestServer } from './helpers/http-app.ts';
import { StreamClient } from './helpers/http-ws.ts';

let ext: FakeExternalSystem;
let clock: ManualClock;
let s: TestServer;
const clients: StreamClient[] = [];

beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
  clock = new ManualClock();
  s = await startServer({ clock });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await s.close();
  await ext.close();
});

const wsUrl = (query = '') => `${s.base.replace(/^http/, 'ws')}/api/stream${query}`;
async function connect(query = '', headers: Record<string, string> = {}): Promise<StreamClient> {
  const c = await StreamClient.connect(wsUrl(query), headers);
  clients.push(c);
  return c;
}

type Updated = Extract<StreamMessage, { type: 'run.updated' }>;
type EventMsg = Extract<StreamMessage, { type: 'run.event' }>;
const updatesOf = (m: StreamMessage[], runId: string): Run[] =>
  m.filter((x): x is Updated => x.type === 'run.updated' && x.run.id === runId).map((x) => x.run);
const eventsOf = (m: StreamMessage[]): EventMsg[] => m.filter((x): x is EventMsg => x.type === 'run.event');

/** Drives one run through: attempt 1 times out, backoff, attempt 2 called back with success. */
async function timeOutThenSucceed(run: Run): Promise<void> {
  await s.idle();
  await s.advance(60_000);
  await s.advance(1_000);
  const r = await s.run(run.id);
  const res = await s.post(r.attempts[1]!.callbackUrl!, { json: { success: true, message: 'done' } });
  expect(res.status).toBe(200);
}

describe('GET /api/stream', () => {
  it('sends a snapshot first, then every state of a run in order as run.updated', async () => {
    const before = await s.createRun({ name: 'already there', target: { url: ext.url } });
    await s.idle();
    const c = await connect();
    await c.waitFor('the snapshot', (m) => m.length >= 1);
    const first = c.messages[0]!;
    expect(first.type).toBe('snapshot');
    if (first.type !== 'snapshot') throw new Error('unreachable');
    const health = await s.request<{ bootId: string }>('GET', '/healthz');
    expect(first.bootId).toBe(health.body.bootId);
    expect(first.runs.map((r) => [r.id, r.state])).toEqual([[before.id, 'awaitingCallback']]);

    const run = await s.createRun({ name: 'watched', target: { url: ext.url } });
    await timeOutThenSucceed(run);
    await c.waitFor('the final state', (m) => updatesOf(m, run.id).some((r) => r.status === 'succeeded'));

    const states = updatesOf(c.messages, run.id).map((r) => `${r.state}#${r.attempts.length}`);
    expect(states).toEqual(['triggering#1', 'awaitingCallback#1', 'retrying#1', 'triggering#2', 'awaitingCallback#2', 'succeeded#2']);
    // Each message carries the whole Run as committed; the last equals what the API returns now.
    expect(updatesOf(c.messages, run.id).at(-1)).toEqual(await s.run(run.id));
    // And the run's list line as the server projects it, so a list shows it as is: each summary is of its own run's
    // commit, and the last equals the one GET /api/runs lists now.
    const updated = c.messages.filter((x): x is Updated => x.type === 'run.updated' && x.run.id === run.id);
    for (const m of updated)
      expect(m.summary).toMatchObject({ id: m.run.id, state: m.run.state, attempt: m.run.attempt, updatedAt: m.run.updatedAt });
    const listed = (await s.request<RunList>('GET', '/api/runs')).body.runs.find((r) => r.id === run.id);
    expect(updated.at(-1)!.summary).toEqual(listed);
    // Not subscribed to a run: no run.event messages.
    expect(eventsOf(c.messages)).toEqual([]);
    // Only the snapshot came before the first update.
    expect(c.messages.filter((m) => m.type === 'snapshot')).toHaveLength(1);
  });

  it('?runId= also gets that run’s events, rejected ones included, in seq order, and no other run’s', async () => {
    // Hold the first trigger's answer so the subscription is in place before anything else commits.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    ext.respond = async () => {
      await held;
      return { status: 202, body: '{}' };
    };
    const run = await s.createRun({ target: { url: ext.url } });
    await ext.waitFor(1);
    const c = await connect(`?runId=${run.id}`);
    const all = await connect();
    await c.waitFor('the snapshot', (m) => m.length >= 1);
    expect(c.messages[0]!.type).toBe('snapshot');
    ext.respond = () => ({ status: 202, body: '{}' });
    release();

    const other = await s.createRun({ name: 'other', target: { url: ext.url } });
    // A refused callback is an event of the run too.
    const a1 = splitCallbackUrl(run.attempts[0]!.callbackUrl!);
    expect((await s.post(`${a1.path}?sig=forged`, { json: { success: true } })).status).toBe(401);
    await timeOutThenSucceed(run);
    await c.waitFor('the final state', (m) => updatesOf(m, run.id).some((r) => r.status === 'succeeded'));

    const log: RunEventEntry[] = await s.events(run.id);
    const streamed = eventsOf(c.messages);
    expect(streamed.every((e) => e.runId === run.id)).toBe(true);
    // Everything committed after the subscription (the creation and run.start commits came before it).
    expect(streamed.map((e) => e.event)).toEqual(log.slice(2));
    expect(streamed.map((e) => e.event.seq)).toEqual(log.slice(2).map((e) => e.seq));
    expect(streamed.map((e) => `${e.event.type}:${e.event.verdict}`)).toEqual([
      'trigger.succeeded:applied',
      'callback.received:unauthorized',
      'xstate.after.attemptTimeout.run.attempt.awaitingCallback:applied',
      'xstate.after.retryBackoff.run.retrying:applied',
      'trigger.succeeded:applied',
      'callback.received:applied',
    ]);
    // Each event follows the run.updated of its commit.
    const order = c.messages.filter((m) => m.type !== 'snapshot' && (m.type !== 'run.updated' || m.run.id === run.id));
    expect(order.map((m) => m.type)).toEqual(streamed.flatMap(() => ['run.updated', 'run.event']));

    // The unsubscribed client hears every run's states but no events at all.
    await all.waitFor('the final state', (m) => updatesOf(m, run.id).some((r) => r.status === 'succeeded'));
    expect(updatesOf(all.messages, other.id).length).toBeGreaterThan(0);
    expect(eventsOf(all.messages)).toEqual([]);

    // The subscribed client hears nothing about the other run. Barrier: stop the other run, then make one more commit
    // on the subscribed run (a duplicate callback is recorded); messages on one socket keep their order, so once that
    // commit's event has arrived every broadcast about the other run (all made before it) would have arrived too.
    expect((await s.post(`/api/runs/${other.id}/cancel`, { json: {} })).status).toBe(200);
    await all.waitFor('the other run cancelled', (m) => updatesOf(m, other.id).some((r) => r.status === 'cancelled'));
    const settled = await s.run(run.id);
    const dup = await s.post<{ result: string }>(settled.attempts[1]!.callbackUrl!, { json: { success: true, message: 'done' } });
    expect(dup.body.result).toBe('duplicate');
    await c.waitFor('the barrier event', (m) => eventsOf(m).length === streamed.length + 1);
    expect(updatesOf(c.messages, other.id)).toEqual([]);
    expect(c.messages.filter((m) => m.type === 'run.updated' && m.run.id !== run.id)).toEqual([]);
  });

  it('?runId= gets a snapshot holding only that run (none for an unknown id); the list snapshot holds them all', async () => {
    const a = await s.createRun({ name: 'a', target: { url: ext.url } });
    const b = await s.createRun({ name: 'b', target: { url: ext.url } });
    await s.idle();
    const list = await connect();
    const one = await connect(`?runId=${a.id}`);
    const none = await connect('?runId=run_does_not_exist');
    const snap = async (cl: StreamClient) => {
      const [first] = await cl.waitFor('the snapshot', (m) => m.length >= 1);
      if (first?.type !== 'snapshot') throw new Error(`expected a snapshot first, got ${first?.type}`);
      return first;
    };
    const health = await s.request<{ bootId: string }>('GET', '/healthz');
    expect((await snap(list)).runs.map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
    const mine = await snap(one);
    // The same shape as the list snapshot (bootId is how the dashboard notices a restart), with one summary.
    expect(mine.bootId).toBe(health.body.bootId);
    expect(mine.runs).toEqual([(await snap(list)).runs.find((r) => r.id === a.id)]);
    expect((await snap(none)).runs).toEqual([]);
  });
});
