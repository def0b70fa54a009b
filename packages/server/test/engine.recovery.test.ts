import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptIdFor } from '@tether/machine';
import { config } from './helpers/engine.ts';
import { harness, type Harness } from './helpers/engine-harness.ts';
import { deferred, turns } from './helpers/async.ts';
import { expectContiguousLog, expectEveryRunReplays } from './helpers/replay-check.ts';
import type { Engine } from '../src/engine/engine.ts';

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : NaN);
const recoveredDetails = async (engine: Engine, runId: string) =>
  (await engine.getDoc(runId))!.events.filter((e) => e.type === 'server.recovered').map((e) => e.detail);

describe('engine: recovery after a restart (in-process; crash tests use a real child)', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await expectEveryRunReplays(h.engine);
    await h.close();
  });

  it('re-arms the attempt timeout at its original due time and says how much time was left', async () => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 60, retryLimit: 0 }));
    await h.ext.waitFor(1);
    await h.engine.idle();
    const due = ms((await h.engine.getRun(run.id))!.attempts[0]!.timeoutDue);
    h.clock.advance(20_000);
    const engine = await h.restart();
    await engine.idle();
    expect(await recoveredDetails(engine, run.id)).toEqual(['Server restarted; attempt 1 timer re-armed with 40000 ms left.']);
    expect(engine.timerCount).toBe(1);
    h.clock.advance(39_999);
    await engine.idle();
    expect((await engine.getRun(run.id))!.state).toBe('awaitingCallback');
    h.clock.advance(1);
    await engine.idle();
    const a = (await engine.getRun(run.id))!.attempts[0]!;
    expect(a).toMatchObject({ state: 'TimedOut', timerLatenessMs: 0 });
    expect(ms(a.endedAt)).toBe(due);
    expect(h.ext.received).toHaveLength(1); // nothing re-sent: the trigger had been acknowledged
  });

  it('a timer that came due while the server was down fires at once on start, with its lateness recorded', async () => {
    const runs = [];
    for (const timeoutSeconds of [30, 10, 20]) {
      runs.push(await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds, retryLimit: 0 })));
      await h.ext.waitFor(runs.length);
      await h.engine.idle();
    }
    const start = h.clock.now();
    await h.engine.stop();
    h.clock.advance(45_000);
    const engine = await h.restart();
    h.clock.advance(0);
    await engine.idle();
    for (const [i, timeoutSeconds] of [30, 10, 20].entries()) {
      const id = runs[i]!.id;
      const late = start + 45_000 - (start + timeoutSeconds * 1000);
      expect(await recoveredDetails(engine, id)).toEqual([`Server restarted; attempt 1 timer overdue by ${late} ms; fired at once.`]);
      const a = (await engine.getRun(id))!.attempts[0]!;
      expect(a).toMatchObject({ state: 'TimedOut', timerLatenessMs: late });
      expect(ms(a.endedAt)).toBe(start + 45_000);
    }
  });

  it('during backoff: the next attempt starts at the original retryDue', async () => {
    let calls = 0;
    h.ext.respond = () => (++calls === 1 ? { status: 503, body: 'busy' } : { status: 202 });
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, retryLimit: 2, backoff: { initialSeconds: 10 } }));
    await h.ext.waitFor(1);
    await h.engine.idle();
    const retryDue = ms((await h.engine.getRun(run.id))!.retryDue);
    h.clock.advance(4_000);
    const engine = await h.restart();
    await engine.idle();
    expect(await recoveredDetails(engine, run.id)).toEqual(['Server restarted; backoff timer before attempt 2 re-armed with 6000 ms left.']);
    h.clock.advance(5_999);
    await engine.idle();
    expect(h.ext.received).toHaveLength(1);
    h.clock.advance(1);
    const t2 = await h.ext.waitFor(2);
    await engine.idle();
    expect(t2.body.attempt).toBe(2);
    const r = (await engine.getRun(run.id))!;
    expect(ms(r.attempts[1]!.started)).toBe(retryDue);
    expect(r.state).toBe('awaitingCallback');
  });

  it('a trigger in flight at shutdown stays in the outbox and is re-sent with the same Idempotency-Key; one attempt only', async () => {
    const hold = deferred<{ status: number }>();
    let calls = 0;
    h.ext.respond = () => (++calls === 1 ? hold.promise : { status: 202 });
    const run = await h.engine.createRun(config({ target: { url: h.ext.url } }));
    const first = await h.ext.waitFor(1);
    const engine = await h.restart(); // aborts the request in flight; its outcome is never committed
    const again = await h.ext.waitFor(2);
    await engine.idle();
    hold.resolve({ status: 202 });
    const attemptId = attemptIdFor(run.id, 1);
    expect(first.headers['idempotency-key']).toBe(attemptId);
    expect(again.headers['idempotency-key']).toBe(attemptId);
    expect(again.body).toEqual(first.body);
    expect(await recoveredDetails(engine, run.id)).toEqual([
      `Server restarted; attempt 1 timer re-armed with 60000 ms left; trigger for attempt 1 re-sent (Idempotency-Key ${attemptId}).`,
    ]);
    expect((await engine.callback(run.id, attemptId, { success: true })).result).toBe('accepted');
    const doc = (await engine.getDoc(run.id))!;
    expect(doc.snapshot.context.attempts).toHaveLength(1);
    expect(doc.outbox).toEqual([]);
    expect(doc.events.filter((e) => e.type === 'trigger.succeeded').map((e) => e.verdict)).toEqual(['applied']);
    expectContiguousLog(doc);
  });

  it('finished runs are listed but not resumed; running ones get exactly one server.recovered each', async () => {
    const done = await h.engine.createRun(config({ target: { url: h.ext.url }, name: 'done' }));
    await h.ext.waitFor(1);
    await h.engine.idle();
    await h.engine.callback(done.id, attemptIdFor(done.id, 1), { success: true });
    h.clock.advance(1); // ids sort by creation millisecond; two in the same one have no defined order
    const open = await h.engine.createRun(config({ target: { url: h.ext.url }, name: 'open' }));
    await h.ext.waitFor(2);
    await h.engine.idle();

    let engine = await h.restart();
    await engine.idle();
    engine = await h.restart();
    await engine.idle();
    expect(engine.activeCount).toBe(1);
    expect(engine.allSummaries().map((s) => [s.name, s.status])).toEqual([
      ['open', 'running'],
      ['done', 'succeeded'],
    ]);
    expect(await recoveredDetails(engine, done.id)).toEqual([]);
    expect(await recoveredDetails(engine, open.id)).toHaveLength(2);
    expect(h.ext.received).toHaveLength(2);
  });

  it('a paused start records recovery but arms nothing and sends nothing until resume()', async () => {
    const hold = deferred<{ status: number }>();
    let calls = 0;
    h.ext.respond = () => (++calls === 1 ? hold.promise : { status: 202 });
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 5 }));
    await h.ext.waitFor(1);
    await h.engine.stop();
    h.clock.advance(10_000); // while down, the attempt timer comes due
    const engine = await h.restart({ paused: true });
    hold.resolve({ status: 202 });
    h.clock.advance(0);
    await engine.idle();
    await turns();
    expect(h.ext.received).toHaveLength(1);
    expect(engine.timerCount).toBe(0);
    expect((await engine.getRun(run.id))!.state).toBe('triggering');
    expect(await recoveredDetails(engine, run.id)).toHaveLength(1);

    engine.resume();
    h.clock.advance(0);
    await engine.idle();
    const r = (await engine.getRun(run.id))!;
    expect(r.attempts[0]).toMatchObject({ state: 'TimedOut', timerLatenessMs: 5_000 });
    // The attempt's timer was overdue at the restart: it fired first and ended the attempt, so its trigger was never
    // re-sent (it used to be, racing ahead of the timer that ends it), and the timeout's commit dropped the entry.
    expect(h.ext.received).toHaveLength(1);
    expect(await recoveredDetails(engine, run.id)).toEqual([
      'Server restarted; attempt 1 timer overdue by 5000 ms; fired at once; trigger for attempt 1 not re-sent: the attempt is over or its timer was overdue.',
    ]);
    const doc = (await engine.getDoc(run.id))!;
    expect(doc.outbox).toEqual([]);
    expect(doc.events.filter((e) => e.type === 'trigger.succeeded')).toEqual([]);
  });
});
