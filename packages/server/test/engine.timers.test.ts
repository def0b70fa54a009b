import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptIdFor } from '@tether/machine';
import { config } from './helpers/engine.ts';
import { harness, type Harness } from './helpers/engine-harness.ts';
import { turns } from './helpers/async.ts';
import { expectEveryRunReplays } from './helpers/replay-check.ts';

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : NaN);

describe('engine: timers on the injected clock', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await expectEveryRunReplays(h.engine);
    await h.close();
  });

  it('cancel during backoff removes the retry timer: nothing fires, nothing is sent', async () => {
    h.ext.respond = () => ({ status: 500, body: 'nope' });
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, retryLimit: 3, backoff: { initialSeconds: 30 } }));
    await h.ext.waitFor(1);
    await h.engine.idle();
    let doc = (await h.engine.getDoc(run.id))!;
    expect(doc.snapshot.value).toBe('retrying');
    expect(doc.timers).toEqual([
      { key: 'xstate.after.retryBackoff.run.retrying', dueAt: h.clock.now() + 30_000, eventType: 'xstate.after.retryBackoff.run.retrying' },
    ]);
    expect(h.engine.timerCount).toBe(1);

    h.clock.advance(10_000);
    const applied = await h.engine.dispatch(run.id, { type: 'run.cancel', reason: 'operator gave up', at: h.clock.now() }, { source: 'operator' });
    expect(applied!.accepted).toBe(true);
    expect(applied!.run.status).toBe('cancelled');
    expect(applied!.run.overallState).toBe('Cancelled during backoff after attempt 1: operator gave up');
    doc = (await h.engine.getDoc(run.id))!;
    expect(doc.timers).toEqual([]);
    expect(h.engine.timerCount).toBe(0);

    h.clock.advance(3600_000);
    await h.engine.idle();
    expect(h.ext.received).toHaveLength(1);
    doc = (await h.engine.getDoc(run.id))!;
    expect(doc.events.map((e) => e.type)).toEqual(['run.created', 'run.start', 'trigger.failed', 'run.cancel']);
    // A second cancel is recorded as rejected, not applied twice.
    const again = await h.engine.dispatch(run.id, { type: 'run.cancel', at: h.clock.now() }, { source: 'operator' });
    expect(again!.accepted).toBe(false);
    expect(again!.entry.verdict).toBe('rejected');
  });

  it('cancel while awaiting the callback cancels the attempt and its timeout', async () => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url } }));
    await h.ext.waitFor(1);
    await h.engine.idle();
    expect(h.engine.timerCount).toBe(1);
    await h.engine.dispatch(run.id, { type: 'run.cancel', reason: 'wrong input', at: h.clock.now() }, { source: 'api' });
    const r = (await h.engine.getRun(run.id))!;
    expect(r.attempts[0]).toMatchObject({ state: 'Cancelled', message: 'Cancelled: wrong input' });
    expect(h.engine.timerCount).toBe(0);
    const late = await h.engine.callback(run.id, attemptIdFor(run.id, 1), { success: true });
    expect(late).toMatchObject({ result: 'late', httpStatus: 410 });
  });

  it('the attempt timeout fires exactly at timeoutDue (lateness 0) on the manual clock', async () => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 90, retryLimit: 0 }));
    await h.ext.waitFor(1);
    await h.engine.idle();
    const due = ms((await h.engine.getRun(run.id))!.attempts[0]!.timeoutDue);
    h.clock.advance(due - h.clock.now() - 1);
    await h.engine.idle();
    expect((await h.engine.getRun(run.id))!.state).toBe('awaitingCallback');
    h.clock.advance(1);
    await h.engine.idle();
    const r = (await h.engine.getRun(run.id))!;
    expect(r.attempts[0]).toMatchObject({ state: 'TimedOut', timerLatenessMs: 0, message: 'Callback not received within 90 s.' });
    expect(ms(r.attempts[0]!.endedAt)).toBe(due);
    expect(r.status).toBe('failed');
    expect(r.overallState).toBe('Failed after 1 attempt. Final state TimedOut: Callback not received within 90 s.');
    const ev = (await h.engine.getDoc(run.id))!.events.find((e) => e.source === 'timer')!;
    expect(ev.detail).toBe(`Timer due ${new Date(due).toISOString()} fired 0 ms late.`);
  });

  it('heartbeats move the deadline; silence past heartbeatTimeoutSeconds times the attempt out', async () => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 600, heartbeatTimeoutSeconds: 10, retryLimit: 1 }));
    await h.ext.waitFor(1);
    await h.engine.idle();
    const t0 = h.clock.now();
    const attemptId = attemptIdFor(run.id, 1);
    expect(ms((await h.engine.getRun(run.id))!.attempts[0]!.heartbeatDue)).toBe(t0 + 10_000);

    h.clock.advance(5_000);
    expect(await h.engine.heartbeat(run.id, attemptId, { percent: 50 })).toMatchObject({ result: 'accepted', httpStatus: 200 });
    let r = (await h.engine.getRun(run.id))!;
    expect(ms(r.attempts[0]!.heartbeatDue)).toBe(t0 + 15_000);
    expect(r.attempts[0]!.progress).toEqual({ percent: 50 });
    expect(h.engine.timerCount).toBe(1); // the one attempt timer moved, not a second one

    h.clock.advance(9_999); // past the original heartbeat deadline, before the moved one
    await h.engine.idle();
    expect((await h.engine.getRun(run.id))!.state).toBe('awaitingCallback');
    h.clock.advance(1);
    await h.engine.idle();
    r = (await h.engine.getRun(run.id))!;
    expect(r.attempts[0]).toMatchObject({ state: 'HeartbeatTimedOut', timerLatenessMs: 0 });
    expect(r.attempts[0]!.message).toBe(`No heartbeat within 10 s (last at ${new Date(t0 + 5_000).toISOString()}).`);
    expect(ms(r.attempts[0]!.endedAt)).toBe(t0 + 15_000);
    expect(r.state).toBe('retrying');
    expect(await h.engine.heartbeat(run.id, attemptId, { percent: 60 })).toMatchObject({
      result: 'late',
      httpStatus: 410,
      attemptState: 'HeartbeatTimedOut',
    });
  });

  it('a timer whose commit fails is retried a second later, not lost', async () => {
    const run = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 10, retryLimit: 0 }));
    await h.ext.waitFor(1);
    await h.engine.idle();
    h.store.failCommits = 1;
    h.clock.advance(10_000);
    await h.engine.idle();
    expect((await h.engine.getRun(run.id))!.state).toBe('awaitingCallback');
    expect(h.engine.timerCount).toBe(1);
    h.clock.advance(1_000);
    await h.engine.idle();
    const r = (await h.engine.getRun(run.id))!;
    expect(r.attempts[0]).toMatchObject({ state: 'TimedOut', timerLatenessMs: 1_000 });
    const due = Date.parse(r.attempts[0]!.timeoutDue);
    const fired = (await h.engine.getDoc(run.id))!.events.filter((e) => e.source === 'timer');
    expect(fired.map((e) => e.detail)).toEqual([`Timer due ${new Date(due).toISOString()} fired 1000 ms late.`]);
  });

  it('a commit that fails acknowledges nothing, executes nothing and notifies no one', async () => {
    const updates: string[] = [];
    h.engine.subscribe((u) => updates.push(u.events.map((e) => e.type).join()));
    h.store.failCommits = 1;
    await expect(h.engine.createRun(config({ target: { url: h.ext.url } }))).rejects.toThrow(/Could not commit run run_.*ENOSPC/);
    await turns();
    expect(h.ext.received).toHaveLength(0);
    expect(h.engine.allSummaries()).toEqual([]);
    expect(updates).toEqual([]);

    const run = await h.engine.createRun(config({ target: { url: h.ext.url } }));
    await h.ext.waitFor(1);
    await h.engine.idle();
    h.store.failCommits = 1;
    await expect(h.engine.callback(run.id, attemptIdFor(run.id, 1), { success: true })).rejects.toThrow(/Could not commit/);
    expect((await h.engine.getRun(run.id))!.state).toBe('awaitingCallback');
    // The sender retries; it is a first delivery (accepted), not a duplicate of something never committed.
    expect((await h.engine.callback(run.id, attemptIdFor(run.id, 1), { success: true })).result).toBe('accepted');
    expect(updates).toEqual(['run.start', 'trigger.succeeded', 'callback.received']);
  });
});
