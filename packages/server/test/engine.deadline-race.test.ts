/**
 * Regression (soak, issue 9): a callback that arrives at the attempt's deadline, before the timer's commit, is late —
 * answered 410 with a reason that says so — and the timer then times the attempt out as due.
 */
import { afterEach, expect, it } from 'vitest';
import { harness, type Harness } from './helpers/engine-harness.ts';
import { config } from './helpers/engine.ts';

let h: Harness;
afterEach(async () => h?.close());

it('a callback at timeoutDue is late even though the timer has not committed yet', async () => {
  h = await harness();
  const run = await h.engine.createRun(config({ target: { url: h.ext.url }, timeoutSeconds: 10, retryLimit: 0 }));
  await h.ext.waitFor(1);
  await h.engine.idle();
  const due = Date.parse(run.attempts[0]!.timeoutDue);
  // Move the clock to the deadline without letting the engine's timer run first: the callback is queued first.
  const out = h.engine.callback(run.id, run.attempts[0]!.id, { success: true });
  h.clock.advance(due - h.clock.now());
  const answer = await out;
  await h.engine.idle();
  const after = (await h.engine.getRun(run.id))!;
  // The callback task runs after advance() (mailbox tasks start on a later microtask), so its `at` is the deadline;
  // the timer's event is queued behind it in the same mailbox.
  expect(answer.result).toBe('late');
  expect(answer.httpStatus).toBe(410);
  expect(answer.message).toMatch(/reached its deadline/);
  expect(after.attempts[0]!.state).toBe('TimedOut');
  expect(after.status).toBe('failed');
});
