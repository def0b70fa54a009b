/**
 * SIGKILL a real child engine while a timer is pending; a fresh child on the same data dir must fire it at its
 * ORIGINAL due time. Real time here (it is a real process on the system clock), but the assertions are on what
 * the engine recorded (timerLatenessMs, event times vs the due time), not on how long the test slept.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptIdFor } from '@tether/machine';
import { config, tempDir } from './helpers/engine.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ChildEngine, killAllChildren } from './helpers/child-harness.ts';
import { within } from './helpers/async.ts';
import { expectContiguousLog, expectReplayEqualsSnapshot } from './helpers/replay-check.ts';

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : NaN);
/** Wall-clock tolerance for a timer on a real, possibly busy, two-core machine. */
const TOLERANCE_MS = 100;

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

  it('(a) while awaiting a callback: after restart the timeout fires within 100 ms of the original timeoutDue, and the run goes on', async () => {
    // The replacement is loaded in advance, so the restart takes milliseconds and the timer is still in the future.
    const [first, second] = await Promise.all([ChildEngine.spawn(), ChildEngine.spawn()]);
    await first.start(tmp.dir);
    const run = await first.create(config({ target: { url: ext.url }, timeoutSeconds: 2, retryLimit: 1, backoff: { initialSeconds: 0.2 } }));
    const waiting = await first.waitForUpdate((u) => u.run.id === run.id && u.run.state === 'awaitingCallback', 'awaitingCallback');
    const due = ms(waiting.run.attempts[0]!.timeoutDue);
    await first.kill();
    expect(Date.now()).toBeLessThan(due); // the crash happened with the timer still pending

    await second.start(tmp.dir);
    const recovered = await second.waitForUpdate((u) => u.events.some((e) => e.type === 'server.recovered'), 'server.recovered');
    const detail = recovered.events.find((e) => e.type === 'server.recovered')!.detail!;
    const left = Number(/attempt 1 timer re-armed with (\d+) ms left/.exec(detail)?.[1]);
    expect(detail).toMatch(/^Server restarted; attempt 1 timer re-armed with \d+ ms left\.$/);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(2000);

    const timedOut = await second.waitForUpdate((u) => u.run.attempts[0]?.state === 'TimedOut', 'the timeout');
    const a1 = timedOut.run.attempts[0]!;
    expect(a1.timerLatenessMs).not.toBeNull();
    expect(a1.timerLatenessMs!).toBeGreaterThanOrEqual(0);
    expect(a1.timerLatenessMs!).toBeLessThanOrEqual(TOLERANCE_MS);
    expect(ms(a1.endedAt) - due).toBe(a1.timerLatenessMs);
    expect(ms(a1.timeoutDue)).toBe(due); // not re-based on the restart
    if (process.env.TETHER_TEST_VERBOSE) console.log({ timeoutLatenessMs: a1.timerLatenessMs, msLeftAtRestart: left });

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
    expect(Date.now()).toBeLessThan(retryDue);

    await second.start(tmp.dir);
    const recovered = await second.waitForUpdate((u) => u.events.some((e) => e.type === 'server.recovered'), 'server.recovered');
    const detail = recovered.events.find((e) => e.type === 'server.recovered')!.detail!;
    expect(detail).toMatch(/^Server restarted; backoff timer before attempt 2 re-armed with \d+ ms left\.$/);

    const t2 = await within(ext.waitFor(2), 10_000, 'attempt 2 trigger');
    expect(t2.headers['idempotency-key']).toBe(attemptIdFor(run.id, 2));
    const opened = await second.waitForUpdate((u) => u.run.attempts.length === 2, 'attempt 2');
    const started = ms(opened.run.attempts[1]!.started);
    expect(started - retryDue).toBeGreaterThanOrEqual(0);
    expect(started - retryDue).toBeLessThanOrEqual(TOLERANCE_MS);
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
