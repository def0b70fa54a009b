import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from './helpers/manual-clock.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { config, startEngine, tempDir } from './helpers/engine.ts';
import { replayRun } from '../src/engine/replay.ts';
import type { Engine } from '../src/engine/engine.ts';

describe('engine: the seed scenario', () => {
  let ext: FakeExternalSystem;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let engine: Engine;
  const clock = new ManualClock();

  beforeEach(async () => {
    ext = await new FakeExternalSystem().start();
    tmp = await tempDir();
    engine = await startEngine(tmp.dir, clock);
  });
  afterEach(async () => {
    await engine.stop();
    await ext.close();
    await tmp.cleanup();
  });

  it('attempt 1 gets no callback and times out; attempt 2 is called back and succeeds', async () => {
    const run = await engine.createRun(config({ target: { url: ext.url }, timeoutSeconds: 60, retryLimit: 4 }));
    const t1 = await ext.waitFor(1);
    expect(t1.headers['idempotency-key']).toBe(run.attempts[0]!.id);
    expect(t1.body.callbackUrl).toContain(`/api/callbacks/${run.id}/${run.attempts[0]!.id}?sig=`);
    await engine.idle();
    expect((await engine.getRun(run.id))!.state).toBe('awaitingCallback');

    clock.advance(60_000);
    await engine.idle();
    let r = (await engine.getRun(run.id))!;
    expect(r.attempts[0]!.state).toBe('TimedOut');
    expect(r.state).toBe('retrying');

    clock.advance(1_000);
    const t2 = await ext.waitFor(2);
    expect(t2.body.attempt).toBe(2);
    await engine.idle();
    const out = await engine.callback(run.id, t2.body.attemptId, { success: true, message: 'done' });
    expect(out.result).toBe('accepted');
    r = (await engine.getRun(run.id))!;
    expect(r.status).toBe('succeeded');
    expect(r.attempts.map((a) => a.state)).toEqual(['TimedOut', 'CallbackSuccess']);
    expect(r.overallState).toBe('Completed after 2 attempts. Final state CallbackSuccess: done');

    const late = await engine.callback(run.id, t1.body.attemptId, { success: true });
    expect(late.result).toBe('late');
    const dup = await engine.callback(run.id, t2.body.attemptId, { success: true, message: 'done' });
    expect(dup.result).toBe('duplicate');
    const conflict = await engine.callback(run.id, t2.body.attemptId, { success: false });
    expect(conflict.result).toBe('conflict');

    const doc = (await engine.getDoc(run.id))!;
    expect(replayRun(doc)).toEqual(JSON.parse(JSON.stringify(doc.snapshot)));
    expect(doc.events.map((e) => `${e.type}:${e.verdict}`)).toEqual([
      'run.created:recorded',
      'run.start:applied',
      'trigger.succeeded:applied',
      'xstate.after.attemptTimeout.run.attempt.awaitingCallback:applied',
      'xstate.after.retryBackoff.run.retrying:applied',
      'trigger.succeeded:applied',
      'callback.received:applied',
      'callback.received:late',
      'callback.received:duplicate',
      'callback.received:conflict',
    ]);
  });
});
