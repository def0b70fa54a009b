/**
 * Hardening (issue 13.1): an outbox entry lives exactly as long as its attempt is open. A trigger still in flight when
 * its attempt ends (timed out, settled by a callback or an operator, the run cancelled) is dropped from the outbox by
 * the commit that ends the attempt, its request is abandoned, and no restart ever sends it again. A recovered re-send
 * never races ahead of an overdue timer that ends its attempt.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptIdFor } from '@tether/machine';
import { config, tempDir } from './helpers/engine.ts';
import { harness, type Harness } from './helpers/engine-harness.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ChildEngine, killAllChildren } from './helpers/child-harness.ts';
import { deferred, within } from './helpers/async.ts';
import { expectContiguousLog, expectEveryRunReplays, expectReplayEqualsSnapshot } from './helpers/replay-check.ts';
import { readDurable } from '../src/store/journal-files.ts';

const keys = (ext: FakeExternalSystem) => ext.received.map((t) => t.headers['idempotency-key']);

describe('outbox entries end with their attempt (in-process engine, manual clock)', () => {
  let h: Harness;
  let hold = deferred<{ status: number }>();
  beforeEach(async () => {
    hold = deferred<{ status: number }>();
    h = await harness();
    // The first trigger is never answered while the test runs; the others are accepted.
    h.ext.respond = (t) => (t.body.attempt === 1 ? hold.promise : { status: 202, body: '{}' });
  });
  afterEach(async () => {
    hold.resolve({ status: 202 });
    await expectEveryRunReplays(h.engine);
    await h.close();
  });

  it('the attempt times out while its trigger is in flight: the timeout commit drops the entry and abandons the request; a restart sends nothing for it', async () => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 5, retryLimit: 1, backoff: { initialSeconds: 60 } }));
    const att1 = attemptIdFor(run.id, 1);
    await h.ext.waitFor(1);
    h.clock.advance(5_000);
    await within(h.ext.waitForAbandoned(1), 5_000, 'the abandoned trigger');
    await h.engine.idle();
    const left = (await readDurable(h.dir, run.id))!;
    expect(left.snapshot.context.attempts.map((a) => a.state)).toEqual(['TimedOut']);
    expect(left.snapshot.value).toBe('retrying');
    expect(left.outbox).toEqual([]);
    expect(left.events.at(-1)!.detail).toMatch(/The trigger for attempt 1 had no answer yet: abandoned, never re-sent\.$/);

    const engine = await h.restart();
    await engine.idle();
    expect(keys(h.ext)).toEqual([att1]);
    // The run goes on with attempt 2, its own key.
    h.clock.advance(60_000);
    await h.ext.waitFor(2);
    await engine.idle();
    expect(keys(h.ext)).toEqual([att1, attemptIdFor(run.id, 2)]);
  });

  it('the run is cancelled while its trigger is in flight: the cancel commit drops the entry and abandons the request', async () => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url } }));
    await h.ext.waitFor(1);
    const applied = await h.engine.dispatch(run.id, { type: 'run.cancel', reason: 'operator', at: h.clock.now() }, { source: 'api' });
    expect(applied!.accepted).toBe(true);
    await within(h.ext.waitForAbandoned(1), 5_000, 'the abandoned trigger');
    expect((await readDurable(h.dir, run.id))!.outbox).toEqual([]);
    await h.engine.idle();
    const doc = (await h.engine.getDoc(run.id))!;
    expect(doc.events.map((e) => `${e.type}:${e.verdict}`)).toEqual(['run.created:recorded', 'run.start:applied', 'run.cancel:applied']);
  });

  it('an operator settles the attempt while its trigger is in flight: the entry is dropped with it, a restart re-sends nothing', async () => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, retryLimit: 2, backoff: { initialSeconds: 60 } }));
    await h.ext.waitFor(1);
    const out = await h.engine.callback(run.id, attemptIdFor(run.id, 1), { success: false, message: 'operator says no' }, 'operator');
    expect(out.result).toBe('accepted');
    expect((await readDurable(h.dir, run.id))!.outbox).toEqual([]);
    await h.ext.waitForAbandoned(1);
    const engine = await h.restart();
    await engine.idle();
    expect(keys(h.ext)).toEqual([attemptIdFor(run.id, 1)]);
    expect((await engine.getRun(run.id))!.state).toBe('retrying');
  });

  it('a restart after the attempt timer came due: the timer fires first and ends the attempt; the trigger is not re-sent', async () => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 5, retryLimit: 1, backoff: { initialSeconds: 60 } }));
    await h.ext.waitFor(1);
    await h.engine.stop(); // graceful: the trigger in flight stays in the outbox, as after a crash
    h.clock.advance(30_000);
    const engine = await h.restart();
    h.clock.advance(0); // the overdue timer fires at once
    await engine.idle();
    expect(keys(h.ext)).toEqual([attemptIdFor(run.id, 1)]);
    const doc = (await engine.getDoc(run.id))!;
    expect(doc.snapshot.context.attempts.map((a) => [a.state, a.timerLatenessMs])).toEqual([['TimedOut', 25_000]]);
    expect(doc.outbox).toEqual([]);
  });

  it('a restart before the attempt timer is due still re-sends the trigger of the open attempt, same key, counted', async () => {
    let sent = 0;
    h.ext.respond = () => (++sent === 1 ? hold.promise : { status: 202, body: '{}' });
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 60 }));
    const att1 = attemptIdFor(run.id, 1);
    await h.ext.waitFor(1);
    await h.engine.stop();
    h.clock.advance(10_000);
    const engine = await h.restart();
    await h.ext.waitFor(2);
    await engine.idle();
    expect(keys(h.ext)).toEqual([att1, att1]);
    const doc = (await engine.getDoc(run.id))!;
    expect(doc.events.map((e) => `${e.type}:${e.verdict}`).slice(2)).toEqual(['server.recovered:recorded', 'trigger.succeeded:applied']);
    expect(doc.events[2]!.detail).toBe(
      `Server restarted; attempt 1 timer re-armed with 50000 ms left; trigger for attempt 1 re-sent (Idempotency-Key ${att1}).`,
    );
    expect(doc.outbox).toEqual([]);
    expect(doc.snapshot.value).toEqual({ attempt: 'awaitingCallback' });
  });
});

describe('outbox entries end with their attempt (real child process, SIGKILL)', () => {
  let ext: FakeExternalSystem;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let never = deferred<{ status: number }>();
  beforeEach(async () => {
    never = deferred<{ status: number }>();
    ext = await new FakeExternalSystem().start();
    tmp = await tempDir('tether-outbox-');
  });
  afterEach(async () => {
    await killAllChildren();
    never.resolve({ status: 599 });
    await ext.close();
    await tmp.cleanup();
  });

  it('killed with a trigger in flight, restarted after its timeout was due: the overdue timer wins, the trigger is sent once', async () => {
    const [first, second] = await Promise.all([ChildEngine.spawn(), ChildEngine.spawn()]);
    ext.respond = (t) => (t.body.attempt === 1 ? never.promise : { status: 202, body: '{}' });
    await first.start(tmp.dir);
    const run = await first.create(
      config({ target: { url: ext.url }, timeoutSeconds: 5, retryLimit: 1, backoff: { initialSeconds: 3600, maxSeconds: 3600 } }),
    );
    await within(ext.waitFor(1), 10_000, 'the first trigger');
    await first.kill();
    expect((await readDurable(tmp.dir, run.id))!.outbox.map((o) => o.attemptId)).toEqual([attemptIdFor(run.id, 1)]);

    // The second process starts "a minute later" (its clock runs ahead), so attempt 1's timeout is long overdue.
    await second.start(tmp.dir, 'http://127.0.0.1:1', undefined, { clockOffsetMs: 60_000 });
    await second.waitForUpdate((u) => u.run.id === run.id && u.run.state === 'retrying', 'attempt 1 timed out');
    await second.request({ op: 'idle' });
    const doc = (await second.getDoc(run.id))!;
    expect(doc.snapshot.context.attempts.map((a) => a.state)).toEqual(['TimedOut']);
    expect(doc.outbox).toEqual([]);
    expect(doc.events.find((e) => e.type === 'server.recovered')!.detail).toMatch(/trigger for attempt 1 not re-sent/);
    expect(keys(ext)).toEqual([attemptIdFor(run.id, 1)]);
    expectContiguousLog(doc);
    expectReplayEqualsSnapshot(doc);
  });
});
