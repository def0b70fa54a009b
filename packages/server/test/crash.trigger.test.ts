/**
 * SIGKILL a real child engine while its trigger POST is in flight (the external system holds the response): the
 * outbox entry was committed before the request, so a fresh child re-sends it with the SAME Idempotency-Key, and
 * the run completes with exactly one attempt for that number.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptIdFor } from '@tether/machine';
import { config, tempDir } from './helpers/engine.ts';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ChildEngine, killAllChildren } from './helpers/child-harness.ts';
import { deferred, within } from './helpers/async.ts';
import { expectContiguousLog, expectReplayEqualsSnapshot } from './helpers/replay-check.ts';
import { readDurable } from '../src/store/journal-files.ts';

describe('crash (SIGKILL) with a trigger in flight', () => {
  let ext: FakeExternalSystem;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const never = deferred<{ status: number }>();
  beforeEach(async () => {
    ext = await new FakeExternalSystem().start();
    tmp = await tempDir('tether-crash-');
  });
  afterEach(async () => {
    await killAllChildren();
    never.resolve({ status: 599 });
    await ext.close();
    await tmp.cleanup();
  });

  it('(b) re-sends the trigger with the same Idempotency-Key after restart; one attempt, completed', async () => {
    const [first, second] = await Promise.all([ChildEngine.spawn(), ChildEngine.spawn()]);
    let calls = 0;
    ext.respond = () => (++calls === 1 ? never.promise : { status: 202, body: '{"accepted":true}' });
    await first.start(tmp.dir);
    const run = await first.create(config({ target: { url: ext.url, headers: { Authorization: 'Bearer k' } }, timeoutSeconds: 30, retryLimit: 3 }));
    const attemptId = attemptIdFor(run.id, 1);
    const sent = await within(ext.waitFor(1), 10_000, 'the first trigger');
    await first.kill(); // the POST is still waiting for its response

    // What the dead process left, as the next start will read it: the outbox entry, no outcome.
    const left = (await readDurable(tmp.dir, run.id))!;
    expect(left.outbox.map((o) => o.id)).toEqual([attemptId]);
    expect(left.events.map((e) => e.type)).toEqual(['run.created', 'run.start']);

    await second.start(tmp.dir);
    const resent = await within(ext.waitFor(2), 10_000, 'the re-sent trigger');
    expect(resent.headers['idempotency-key']).toBe(attemptId);
    expect(sent.headers['idempotency-key']).toBe(attemptId);
    expect(resent.headers['authorization']).toBe('Bearer k');
    expect(resent.body).toEqual(sent.body);

    await second.waitForUpdate((u) => u.run.id === run.id && u.run.state === 'awaitingCallback', 'awaitingCallback');
    expect((await second.callback(run.id, attemptId, { success: true, output: { ok: 1 } })).result).toBe('accepted');
    const doc = (await second.getDoc(run.id))!;
    expect(doc.snapshot.value).toBe('succeeded');
    expect(doc.snapshot.context.attempts.map((a) => [a.number, a.state])).toEqual([[1, 'CallbackSuccess']]);
    expect(doc.outbox).toEqual([]);
    const types = doc.events.map((e) => `${e.type}:${e.verdict}`);
    expect(types).toEqual([
      'run.created:recorded',
      'run.start:applied',
      'server.recovered:recorded',
      'trigger.succeeded:applied',
      'callback.received:applied',
    ]);
    expect(doc.events[2]!.detail).toMatch(
      new RegExp(
        `^Server restarted; attempt 1 timer re-armed with \\d+ ms left; trigger for attempt 1 re-sent \\(Idempotency-Key ${attemptId}\\)\\.$`,
      ),
    );
    expect(ext.received).toHaveLength(2);
    expectContiguousLog(doc);
    expectReplayEqualsSnapshot(doc);
  });
});
