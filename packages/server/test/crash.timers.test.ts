/**
 * SIGKILL a real child engine while a timer is pending; a fresh child on the same data dir must arm it at its
 * ORIGINAL due time. Real time here (it is a real process on the system clock), but the assertions are safety, not
 * speed: the timer is re-armed at its original due time (the time left it reports is at most what was left at the
 * kill: not re-based on the restart), it never fires before that time, and what it records agrees with it. How late
 * it fired depends on how busy the machine is: it is reported (TETHER_TEST_VERBOSE=1), never asserted — `pnpm test`
 * must pass on a loaded two-core machine.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptIdFor } from '@tether/machine';
import { config, tempDir } from './helpers/engine.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ChildEngine, killAllChildren } from './helpers/child-harness.ts';
import { within } from './helpers/async.ts';
import { expectContiguousLog, expectReplayEqualsSnapshot } from './helpers/replay-check.ts';

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : NaN);

describe('crash (SIGKILL) with a timer pending', () => {
  let ext: FakeExternalSystem;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    ext = await new FakeExternalSystem().start();
    tmp = await tempDir('tether-crash-');
  });
  afterEach(async () => {
    await killAllChildren();
    await ext.close();
    await tmp.cleanup();
  });

  it('(a) while awaiting a callback: after restart the timeout is armed at the original timeoutDue, never fires early, and the run goes on', async () => {
    // The replacement is loaded in advance, so the restart takes milliseconds and the timer is still in the future.
    const [first, second] = await Promise.all([ChildEngine.spawn(), ChildEngine.spawn()]);
    await first.start(tmp.dir);
    const run = await first.create(config({ target: { url: ext.url }, timeoutSeconds: 2, retryLimit: 1, backoff: { initialSeconds: 0.2 } }));
    const waiting = await first.waitForUpdate((u) => u.run.id === run.id && u.run.state === 'awaitingCallback', 'awaitingCallback');
    const due = ms(waiting.run.attempts[0]!.timeoutDue);
    await first.kill();
    const killedAt = Date.now();
    expect(killedAt).toBeLessThan(due); // the crash happened with the timer still pending

    await second.start(tmp.dir);
    const recovered = await second.waitForUpdate((u) => u.events.some((e) => e.type === 'server.recovered'), 'server.recovered');
    const detail = recovered.events.find((e) => e.type === 'server.recovered')!.detail!;
    // Re-armed with at most the time that was left at the kill: at the original due time, not a fresh timeout from the
    // restart (a busy machine may restart after it was due: then it is overdue and fires at once).
    const m = /^Server restarted; attempt 1 timer (?:re-armed with (\d+) ms left|overdue by (\d+) ms; fired at once)\.$/.exec(detail);
    expect(m, detail).not.toBeNull();
    if (m![1] !== undefined) expect(Number(m![1])).toBeLessThanOrEqual(due - killedAt);

    const timedOut = await second.waitForUpdate((u) => u.run.attempts[0]?.state === 'TimedOut', 'the timeout');
    const a1 = timedOut.run.attempts[0]!;
    expect(a1.timerLatenessMs).not.toBeNull();
    expect(a1.timerLatenessMs!).toBeGreaterThanOrEqual(0); // never early
    expect(ms(a1.endedAt) - due).toBe(a1.timerLatenessMs);
    expect(ms(a1.timeoutDue)).toBe(due); // not re-based on the restart
    if (process.env.TETHER_TEST_VERBOSE) console.log({ timeoutLatenessMs: a1.timerLatenessMs, detail });

    // The run continues: attempt 2 after the backoff, called back, succeeds.
    const t2 = await within(ext.waitFor(2), 10_000, 'attempt 2 trigger');
    expect(t2.body.attempt).toBe(2);
    await second.waitForUpdate((u) => u.run.attempts[1]?.state === 'AwaitingCallback', 'attempt 2 awaiting');
    expect((await second.callback(run.id, t2.body.attemptId, { success: true, message: 'second time lucky' })).result).toBe('accepted');
    const doc = (await second.getDoc(run.id))!;
    expect(doc.snapshot.context.attempts.map((a) => a.state)).toEqual(['TimedOut', 'CallbackSuccess']);
    expect(doc.events.filter((e) => e.type === 'server.recovered')).toHaveLength(1);
    expect(ext.received).toHaveLength(2);
    expectContiguousLog(doc);
    expectReplayEqualsSnapshot(doc);
  });

  it('(c) during backoff: after restart the next attempt starts at the original retryDue', async () => {
    const [first, second] = await Promise.all([ChildEngine.spawn(), ChildEngine.spawn()]);
    let calls = 0;
    ext.respond = () => (++calls === 1 ? { status: 503, body: 'warming up' } : { status: 202 });
    await first.start(tmp.dir);
    const run = await first.create(config({ target: { url: ext.url }, timeoutSeconds: 30, retryLimit: 2, backoff: { initialSeconds: 1.5 } }));
    const backoff = await first.waitForUpdate((u) => u.run.id === run.id && u.run.state === 'retrying', 'retrying');
    const retryDue = ms(backoff.run.retryDue);
    await first.kill();
    const killedAt = Date.now();
    expect(killedAt).toBeLessThan(retryDue);

    await second.start(tmp.dir);
    const recovered = await second.waitForUpdate((u) => u.events.some((e) => e.type === 'server.recovered'), 'server.recovered');
    const detail = recovered.events.find((e) => e.type === 'server.recovered')!.detail!;
    const m = /^Server restarted; backoff timer before attempt 2 (?:re-armed with (\d+) ms left|overdue by (\d+) ms; fired at once)\.$/.exec(detail);
    expect(m, detail).not.toBeNull();
    if (m![1] !== undefined) expect(Number(m![1])).toBeLessThanOrEqual(retryDue - killedAt);

    const t2 = await within(ext.waitFor(2), 10_000, 'attempt 2 trigger');
    expect(t2.headers['idempotency-key']).toBe(attemptIdFor(run.id, 2));
    const opened = await second.waitForUpdate((u) => u.run.attempts.length === 2, 'attempt 2');
    const started = ms(opened.run.attempts[1]!.started);
    expect(started - retryDue).toBeGreaterThanOrEqual(0); // never early
    if (process.env.TETHER_TEST_VERBOSE) console.log({ retryLatenessMs: started - retryDue });
    const timerEntry = opened.events.find((e) => e.source === 'timer')!;
    expect(timerEntry.detail).toMatch(new RegExp(`^Timer due ${new Date(retryDue).toISOString().replace(/\./g, '\\.')} fired \\d+ ms late\\.$`));

    await second.waitForUpdate((u) => u.run.attempts[1]?.state === 'AwaitingCallback', 'attempt 2 awaiting');
    expect((await second.callback(run.id, t2.body.attemptId, { success: true })).result).toBe('accepted');
    const doc = (await second.getDoc(run.id))!;
    expect(doc.snapshot.value).toBe('succeeded');
    expect(doc.snapshot.context.attempts.map((a) => a.state)).toEqual(['TriggerFailed', 'CallbackSuccess']);
    expectContiguousLog(doc);
    expectReplayEqualsSnapshot(doc);
  });
});
