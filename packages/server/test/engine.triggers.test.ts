import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptIdFor } from '@tether/machine';
import { config, testSigner } from './helpers/engine.ts';
import { harness, type Harness } from './helpers/engine-harness.ts';
import { closedPortUrl, deferred, turns, within } from './helpers/async.ts';
import { expectContiguousLog, expectEveryRunReplays } from './helpers/replay-check.ts';
import type { RunDoc } from '../src/store/types.ts';
import { durableAt } from './helpers/durable.ts';
import { readDurable } from '../src/store/journal-files.ts';

const log = (doc: RunDoc) => doc.events.map((e) => `${e.type}:${e.verdict}`);

describe('engine: triggers from the outbox, against a real external system on loopback', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await expectEveryRunReplays(h.engine);
    await h.close();
  });

  it('persists the outbox entry before the request, sends PUT with Idempotency-Key and the configured headers, and removes the entry in the commit of its outcome', async () => {
    const onDisk: Array<Promise<RunDoc | null>> = [];
    h.ext.respond = (t) => {
      // What is durable at the instant the external system sees the request (copied now, read below).
      onDisk.push(durableAt(h.dir, t.body.runId));
      return { status: 202, body: '{"accepted":true}' };
    };
    const run = await h.engine.createRun(
      config({
        name: 'nightly export',
        target: { url: h.ext.url, method: 'PUT', headers: { Authorization: 'Bearer s3cret', 'X-Tenant': 'acme' } },
        payload: { job: 42, tags: ['a', 'b'] },
      }),
    );
    const t = await h.ext.waitFor(1);
    await h.engine.idle();
    const attemptId = attemptIdFor(run.id, 1);

    expect(t.method).toBe('PUT');
    expect(t.headers['content-type']).toBe('application/json');
    expect(t.headers['idempotency-key']).toBe(attemptId);
    expect(t.headers['authorization']).toBe('Bearer s3cret');
    expect(t.headers['x-tenant']).toBe('acme');
    const signer = testSigner();
    expect(t.body).toEqual({
      runId: run.id,
      attemptId,
      attempt: 1,
      callbackUrl: signer.callbackUrl(run.id, attemptId),
      heartbeatUrl: signer.heartbeatUrl(run.id, attemptId),
      payload: { job: 42, tags: ['a', 'b'] },
    });
    expect(signer.verify(run.id, attemptId, new URL(t.body.callbackUrl).searchParams.get('sig'))).toBe(true);
    expect(signer.verify(run.id, attemptId, new URL(t.body.heartbeatUrl).searchParams.get('sig'), 'heartbeat')).toBe(true);

    // Outbox entry was on disk before the POST arrived.
    const seenOnDisk = await Promise.all(onDisk);
    expect(seenOnDisk).toHaveLength(1);
    expect(seenOnDisk[0]!.outbox).toEqual([expect.objectContaining({ id: attemptId, attemptId, number: 1, kind: 'trigger' })]);
    expect(log(seenOnDisk[0]!)).toEqual(['run.created:recorded', 'run.start:applied']);

    // Every commit holds the entry until the one that records its outcome, which removes it.
    const commits = h.store.commitsOf(run.id);
    expect(commits.map((c) => [c.events.at(-1)!.type, c.outbox.map((o) => o.id)])).toEqual([
      ['run.start', [attemptId]],
      ['trigger.succeeded', []],
    ]);
    const doc = (await h.engine.getDoc(run.id))!;
    expect(doc.events.at(-1)).toMatchObject({ type: 'trigger.succeeded', source: 'trigger', detail: `PUT ${h.ext.url} → 202` });
    expect((await h.engine.getRun(run.id))!.state).toBe('awaitingCallback');
  });

  it('a 500 is not success: trigger.failed names the status and a body excerpt, then the run retries with a new key', async () => {
    let calls = 0;
    h.ext.respond = () => (++calls === 1 ? { status: 500, body: 'database is down' } : { status: 202 });
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, retryLimit: 3 }));
    await h.ext.waitFor(1);
    await h.engine.idle();
    let r = (await h.engine.getRun(run.id))!;
    expect(r.attempts[0]!.state).toBe('TriggerFailed');
    expect(r.attempts[0]!.message).toBe('Trigger failed: HTTP 500 Internal Server Error: database is down');
    expect(r.state).toBe('retrying');
    const failed = (await h.engine.getDoc(run.id))!.events.find((e) => e.type === 'trigger.failed')!;
    expect(failed).toMatchObject({
      verdict: 'applied',
      source: 'trigger',
      detail: `POST ${h.ext.url} → HTTP 500 Internal Server Error: database is down`,
    });
    expect(failed.event).toMatchObject({ message: 'HTTP 500 Internal Server Error: database is down' });

    h.clock.advance(999);
    await h.engine.idle();
    expect(h.ext.received).toHaveLength(1);
    h.clock.advance(1);
    const t2 = await h.ext.waitFor(2);
    await h.engine.idle();
    expect(t2.body.attempt).toBe(2);
    expect(t2.headers['idempotency-key']).toBe(attemptIdFor(run.id, 2));
    r = (await h.engine.getRun(run.id))!;
    expect(r.attempts.map((a) => a.state)).toEqual(['TriggerFailed', 'AwaitingCallback']);
  });

  it('only 2xx counts: a redirect and a 404 fail too; a long body is cut to a short excerpt', async () => {
    const answers = [
      { status: 302, body: '' },
      { status: 404, body: 'no such job' },
      { status: 503, body: 'x'.repeat(5000) },
    ];
    h.ext.respond = () => answers.shift() ?? { status: 200 };
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, retryLimit: 3, backoff: { initialSeconds: 1, multiplier: 1 } }));
    for (let n = 1; n <= 3; n++) {
      await h.ext.waitFor(n);
      await h.engine.idle();
      h.clock.advance(1000);
    }
    await h.ext.waitFor(4);
    await h.engine.idle();
    const r = (await h.engine.getRun(run.id))!;
    expect(r.attempts.map((a) => a.state)).toEqual(['TriggerFailed', 'TriggerFailed', 'TriggerFailed', 'AwaitingCallback']);
    expect(r.attempts[0]!.message).toBe('Trigger failed: HTTP 302 Found');
    expect(r.attempts[1]!.message).toBe('Trigger failed: HTTP 404 Not Found: no such job');
    expect(r.attempts[2]!.message).toBe(`Trigger failed: HTTP 503 Service Unavailable: ${'x'.repeat(200)}…`);
  });

  it('a target that streams an endless answer costs a bounded read: the trigger fails with its excerpt and the connection is cut', async () => {
    const { createServer } = await import('node:http');
    let sent = 0;
    let cut!: () => void;
    const closed = new Promise<void>((r) => (cut = r));
    const flood = createServer((req, res) => {
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'y');
      const pump = () => {
        while (!res.destroyed && sent < 512 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
      };
      res.on('drain', pump);
      res.on('close', () => cut());
      pump();
    });
    await new Promise<void>((r) => flood.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(flood.address() as { port: number }).port}/jobs`;
      const run = await h.engine.createRun(config({ target: { url }, retryLimit: 0 }));
      await within(closed, 30_000, 'the client cuts the endless answer');
      await h.engine.idle();
      const r = (await h.engine.getRun(run.id))!;
      expect(r.attempts[0]!.message).toBe(`Trigger failed: HTTP 500 Internal Server Error: ${'y'.repeat(200)}…`);
      expect(sent, 'bytes the target managed to send before the cut').toBeLessThan(64 * 1024 * 1024);
    } finally {
      flood.closeAllConnections();
      await new Promise<void>((r) => flood.close(() => r()));
    }
  });

  it('a network error (nothing listening) → trigger.failed with the error code', async () => {
    const url = await closedPortUrl();
    const run = await h.engine.createRun(config({ target: { url }, retryLimit: 1 }));
    await h.engine.idle();
    const r = (await h.engine.getRun(run.id))!;
    expect(r.attempts[0]!.state).toBe('TriggerFailed');
    expect(r.attempts[0]!.message).toMatch(/^Trigger failed: ECONNREFUSED: .*127\.0\.0\.1/);
    expect(r.state).toBe('retrying');
    const failed = (await h.engine.getDoc(run.id))!.events.find((e) => e.type === 'trigger.failed')!;
    expect(failed.detail).toContain(`POST ${url} → ECONNREFUSED`);
  });

  it('no response within triggerTimeoutSeconds → trigger.failed saying so', async () => {
    const hold = deferred<{ status: number }>();
    h.ext.respond = () => hold.promise;
    try {
      const run = await h.engine.createRun(config({ target: { url: h.ext.url }, triggerTimeoutSeconds: 0.2, retryLimit: 0 }));
      await h.engine.idle(); // bounded by the 0.2 s request timeout
      const r = (await h.engine.getRun(run.id))!;
      expect(r.attempts[0]!.message).toBe('Trigger failed: no response within 0.2 s');
      expect(r.status).toBe('failed');
    } finally {
      hold.resolve({ status: 202 });
    }
  });

  it('exhaustion: every attempt fails → failed, "Failed after N attempts", no timer left, nothing more sent', async () => {
    h.ext.respond = () => ({ status: 500, body: 'still down' });
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, retryLimit: 2 }));
    const delays = [1000, 2000]; // initialSeconds 1, multiplier 2
    for (let n = 1; n <= 3; n++) {
      await h.ext.waitFor(n);
      await h.engine.idle();
      if (n <= 2) h.clock.advance(delays[n - 1]!);
    }
    const r = (await h.engine.getRun(run.id))!;
    expect(r.status).toBe('failed');
    expect(r.overallState).toBe('Failed after 3 attempts. Final state TriggerFailed: Trigger failed: HTTP 500 Internal Server Error: still down');
    expect(h.engine.getSummary(run.id)).toMatchObject({ status: 'failed', exhausted: true, attempt: 3, maxAttempts: 3 });
    expect(new Set(h.ext.received.map((t) => t.headers['idempotency-key'])).size).toBe(3);
    const doc = (await h.engine.getDoc(run.id))!;
    expect(doc.timers).toEqual([]);
    expect(doc.outbox).toEqual([]);
    expect(h.engine.timerCount).toBe(0);
    expect(h.engine.activeCount).toBe(0);
    h.clock.advance(24 * 3600 * 1000);
    await h.engine.idle();
    expect(h.ext.received).toHaveLength(3);
    expectContiguousLog(doc);
  });

  it('an early callback while the trigger is still in flight wins; its commit drops the outbox entry and abandons the request', async () => {
    const hold = deferred<{ status: number }>();
    h.ext.respond = () => hold.promise;
    const run = await h.engine.createRun(config({ target: { url: h.ext.url } }));
    const t = await h.ext.waitFor(1);
    expect((await h.engine.getRun(run.id))!.state).toBe('triggering');

    const out = await h.engine.callback(run.id, t.body.attemptId, { success: true, message: 'done before the 202', output: { rows: 3 } });
    expect(out).toMatchObject({ result: 'accepted', httpStatus: 200 });
    let r = (await h.engine.getRun(run.id))!;
    expect(r.status).toBe('succeeded');
    expect(r.attempts[0]).toMatchObject({ state: 'CallbackSuccess', output: { rows: 3 }, triggeredAt: null });
    expect(h.engine.timerCount).toBe(0);
    // The commit that settled the attempt removed its outbox entry: no restart can send this trigger again.
    expect((await readDurable(h.dir, run.id))!.outbox).toEqual([]);
    // …and the request still in flight was abandoned, not waited for.
    expect((await within(h.ext.waitForAbandoned(1), 5_000, 'the abandoned trigger')).body.attemptId).toBe(t.body.attemptId);

    hold.resolve({ status: 202 });
    await h.engine.idle();
    const doc = (await h.engine.getDoc(run.id))!;
    expect(log(doc)).toEqual(['run.created:recorded', 'run.start:applied', 'callback.received:applied']);
    expect(doc.events.at(-1)!.detail).toBe('Success accepted. The trigger for attempt 1 had no answer yet: abandoned, never re-sent.');
    expect(doc.outbox).toEqual([]);
    r = (await h.engine.getRun(run.id))!;
    expect(r.status).toBe('succeeded');
  });

  it('an early failure callback while triggering leads to a retry; the stale trigger outcome changes nothing', async () => {
    const hold = deferred<{ status: number }>();
    let calls = 0;
    h.ext.respond = () => (++calls === 1 ? hold.promise : { status: 202 });
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, retryLimit: 1 }));
    const t = await h.ext.waitFor(1);
    const out = await h.engine.callback(run.id, t.body.attemptId, { success: false, message: 'bad input' });
    expect(out.result).toBe('accepted');
    expect((await h.engine.getRun(run.id))!.state).toBe('retrying');
    hold.resolve({ status: 202 });
    await h.engine.idle();
    const r = (await h.engine.getRun(run.id))!;
    expect(r.state).toBe('retrying');
    expect(r.attempts.map((a) => a.state)).toEqual(['CallbackFailure']);
    h.clock.advance(1000);
    await h.ext.waitFor(2);
    await h.engine.idle();
    expect((await h.engine.getRun(run.id))!.attempts.map((a) => a.state)).toEqual(['CallbackFailure', 'AwaitingCallback']);
  });

  it('a failed trigger-outcome commit is retried on the engine clock and re-sent with the same key', async () => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url } }));
    h.store.failCommits = 1; // the trigger.succeeded commit fails
    await h.ext.waitFor(1);
    await h.engine.idle();
    expect((await h.engine.getRun(run.id))!.state).toBe('triggering');
    expect((await h.engine.getDoc(run.id))!.outbox).toHaveLength(1);
    await turns();
    expect(h.ext.received).toHaveLength(1);
    h.clock.advance(999);
    await turns();
    expect(h.ext.received).toHaveLength(1);
    h.clock.advance(1);
    // The re-send follows the engine's clock, not a wall-clock second.
    const again = await within(h.ext.waitFor(2), 500, 'the re-sent trigger');
    await h.engine.idle();
    expect(again.headers['idempotency-key']).toBe(attemptIdFor(run.id, 1));
    const doc = (await h.engine.getDoc(run.id))!;
    expect(doc.outbox).toEqual([]);
    expect(log(doc)).toEqual(['run.created:recorded', 'run.start:applied', 'trigger.succeeded:applied']);
  });
});
