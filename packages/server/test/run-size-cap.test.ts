/**
 * Hardening (issue 13.5): a run document has a size cap (TETHER_MAX_RUN_BYTES). A callback or operator action that
 * would grow a run past it is refused clearly — 413, recorded, the run unchanged — instead of every later commit of
 * that run rewriting an ever larger document; the engine's own events still apply, so the run times out and ends.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Run } from '@tether/machine';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { startServer, type TestServer } from './helpers/http-app.ts';
import { readDurable } from '../src/store/journal-files.ts';

let ext: FakeExternalSystem;
let s: TestServer;
const LIMIT = 65_536;
/** 20 KiB of output: under the per-field cap; the run holds it twice (on the attempt and in the log entry). */
const output = { blob: 'x'.repeat(20 * 1024) };

beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
  s = await startServer({ clock: new ManualClock(), env: { TETHER_MAX_RUN_BYTES: String(LIMIT) } });
});
afterEach(async () => {
  await s.close();
  await ext.close();
});

const current = async (id: string) => {
  const r = await s.run(id);
  return r.attempts[r.attempts.length - 1]!;
};

it('a callback that would grow the run past the cap is answered 413, recorded, and changes nothing; the run still times out and ends', async () => {
  const run: Run = await s.createRun({ target: { url: ext.url }, timeoutSeconds: 30, retryLimit: 3, backoff: { initialSeconds: 1 } });
  await s.idle();
  const first = await s.post((await current(run.id)).callbackUrl!, { json: { success: false, message: 'one', output } });
  expect(first.status).toBe(200);
  await s.advance(1_000); // backoff over: attempt 2
  const att2 = await current(run.id);
  expect(att2.number).toBe(2);
  const before = (await readDurable(s.dataDir, run.id))!;

  const refused = await s.post(att2.callbackUrl!, { json: { success: false, message: 'two', output } });
  expect(refused.status).toBe(413);
  expect(refused.body).toMatchObject({ result: 'invalid', attemptId: att2.id });
  expect((refused.body as { message: string }).message).toMatch(/over the limit of 65536 \(TETHER_MAX_RUN_BYTES\)/);

  const after = (await readDurable(s.dataDir, run.id))!;
  expect(after.snapshot).toEqual(before.snapshot);
  expect(JSON.stringify(after).length).toBeLessThan(LIMIT);
  const last = after.events.at(-1)!;
  expect(last).toMatchObject({ type: 'callback.received', verdict: 'invalid', httpStatus: 413, attemptId: att2.id });
  expect(last.event).toBeUndefined();

  // The engine's own events are not refused: the attempt times out and the run goes on to its end.
  await s.advance(30_000);
  expect((await s.run(run.id)).attempts[1]!.state).toBe('TimedOut');
});

it('an operator completion that would grow the run past the cap is 413 TETHER_RUN_TOO_LARGE, the attempt still waiting', async () => {
  const run = await s.createRun({ target: { url: ext.url }, timeoutSeconds: 30, retryLimit: 1, payload: { big: 'y'.repeat(15 * 1024) } });
  await s.idle();
  const att = await current(run.id);
  const r = await s.request('POST', `/api/runs/${run.id}/attempts/${att.id}/complete`, { json: { success: true, output } });
  expect(r.status).toBe(413);
  expect(r.body).toMatchObject({ error: { code: 'TETHER_RUN_TOO_LARGE' } });
  expect((await current(run.id)).state).toBe('AwaitingCallback');
  // A small one still goes through.
  const ok = await s.request('POST', `/api/runs/${run.id}/attempts/${att.id}/complete`, { json: { success: true } });
  expect(ok.status).toBe(200);
});
