/**
 * The built-in simulator, end to end over real HTTP: Tether triggers `/simulator/jobs`, the simulator calls back to the
 * signed URL. The simulator's delays are real timers, so these tests use tiny delays and timeouts with the system
 * clock, and wait by polling the API against generous, bounded deadlines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, RunConfig, RunEventEntry, SimulateSpec, SimulatorJobList } from '@tether/machine/protocol';
import { startServer, until, type TestServer } from './helpers/http-app.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});

async function simulate(simulate: SimulateSpec, cfg: Partial<RunConfig> = {}): Promise<Run> {
  return s.createRun({
    name: `simulate ${simulate.outcome ?? simulate.perAttempt?.join(',')}`,
    target: { url: `${s.base}/simulator/jobs` },
    payload: { simulate: { delaySeconds: 0.05, ...simulate } },
    timeoutSeconds: 5,
    retryLimit: 0,
    backoff: { initialSeconds: 0.05 },
    ...cfg,
  });
}

async function finished(id: string): Promise<Run> {
  return until(`run ${id} to finish`, async () => {
    const r = await s.run(id);
    return r.status === 'running' ? undefined : r;
  });
}

/** Waits until the run's log satisfies `pred`, then returns the log. */
async function logWhere(id: string, what: string, pred: (log: RunEventEntry[]) => boolean): Promise<RunEventEntry[]> {
  return until(what, async () => {
    const log = await s.events(id);
    return pred(log) ? log : undefined;
  });
}

const brief = (log: RunEventEntry[]) => log.map((e) => `${e.type}:${e.verdict}${e.httpStatus ? `:${e.httpStatus}` : ''}`);

describe('the built-in simulator', () => {
  it('success: calls back with success; the run succeeds with its output', async () => {
    // 0.2 s: the callback comes well after the trigger's 202, so the log order below is not a race.
    const run = await simulate({ outcome: 'success', delaySeconds: 0.2 });
    const r = await finished(run.id);
    expect(r.status).toBe('succeeded');
    expect(r.attempts).toHaveLength(1);
    expect(r.attempts[0]).toMatchObject({
      state: 'CallbackSuccess',
      isSuccess: true,
      message: 'Simulated job for attempt 1 succeeded.',
      output: { simulated: true, attempt: 1 },
    });
    expect(r.attempts[0]!.triggeredAt).not.toBeNull();
    expect(brief(await s.events(run.id))).toEqual([
      'run.created:recorded',
      'run.start:applied',
      'trigger.succeeded:applied',
      'callback.received:applied:200',
    ]);

    const jobs = await s.request<SimulatorJobList>('GET', '/simulator/jobs');
    const job = jobs.body.jobs.find((j) => j.runId === run.id)!;
    // What the webhook answered, as its status and verdict word only (never its body).
    expect(job).toMatchObject({
      attemptId: r.attempts[0]!.id,
      idempotencyKey: r.attempts[0]!.id,
      outcome: 'success',
      callbacks: [{ at: expect.any(String), status: 200, result: 'accepted' }],
    });
  });

  it('failure: calls back with failure; with no retries left the run fails', async () => {
    const run = await simulate({ outcome: 'failure' });
    const r = await finished(run.id);
    expect(r.status).toBe('failed');
    expect(r.attempts[0]).toMatchObject({ state: 'CallbackFailure', isSuccess: false, message: 'Simulated job for attempt 1 failed.' });
  });

  it('never: no callback; the attempt times out', async () => {
    const run = await simulate({ outcome: 'never' }, { timeoutSeconds: 0.3 });
    const r = await finished(run.id);
    expect(r.status).toBe('failed');
    expect(r.attempts[0]).toMatchObject({ state: 'TimedOut', message: 'Callback not received within 0.3 s.' });
    expect((await s.events(run.id)).some((e) => e.type === 'callback.received')).toBe(false);
  });

  it('triggerError: the trigger gets a 500; trigger.failed says HTTP 500', async () => {
    const run = await simulate({ outcome: 'triggerError' });
    const r = await finished(run.id);
    expect(r.status).toBe('failed');
    expect(r.attempts[0]!.state).toBe('TriggerFailed');
    expect(r.attempts[0]!.message).toMatch(/^Trigger failed: HTTP 500/);
    const failed = (await s.events(run.id)).find((e) => e.type === 'trigger.failed')!;
    expect(failed).toMatchObject({ source: 'trigger', verdict: 'applied' });
    expect((failed.event as { message: string }).message).toMatch(/^HTTP 500/);
  });

  it('late: the callback comes after the timeout and is answered 410, recorded', async () => {
    const run = await simulate({ outcome: 'late', delaySeconds: 0.1 }, { timeoutSeconds: 0.3 });
    const log = await logWhere(run.id, 'the late callback', (l) => l.some((e) => e.type === 'callback.received'));
    expect(brief(log)).toEqual([
      'run.created:recorded',
      'run.start:applied',
      'trigger.succeeded:applied',
      'xstate.after.attemptTimeout.run.attempt.awaitingCallback:applied',
      'callback.received:late:410',
    ]);
    const r = await s.run(run.id);
    expect(r.status).toBe('failed');
    expect(r.attempts[0]!.state).toBe('TimedOut');
  });

  it('duplicate: the same callback twice: accepted, then duplicate, both recorded', async () => {
    const run = await simulate({ outcome: 'duplicate' });
    const log = await logWhere(run.id, 'the second callback', (l) => l.filter((e) => e.type === 'callback.received').length === 2);
    expect(brief(log.filter((e) => e.type === 'callback.received'))).toEqual(['callback.received:applied:200', 'callback.received:duplicate:200']);
    expect((await s.run(run.id)).status).toBe('succeeded');
  });

  it('early: the callback is accepted while triggering; the trigger request still in flight is abandoned, never applied', async () => {
    const run = await simulate({ outcome: 'early' });
    const log = await logWhere(run.id, 'the early callback', (l) => l.some((e) => e.type === 'callback.received'));
    await s.idle();
    expect(brief(await s.events(run.id))).toEqual(['run.created:recorded', 'run.start:applied', 'callback.received:applied:200']);
    expect(log[1]!.stateAfter).toBe('triggering');
    expect(log[2]!.stateAfter).toBe('succeeded');
    const r = await s.run(run.id);
    expect(r.status).toBe('succeeded');
    expect(r.attempts[0]).toMatchObject({ state: 'CallbackSuccess', triggeredAt: null });
  });

  it("perAttempt ['never', 'success']: the seed scenario, timed out once, succeeded on attempt 2", async () => {
    const run = await simulate({ perAttempt: ['never', 'success'] }, { timeoutSeconds: 0.3, retryLimit: 4 });
    const r = await finished(run.id);
    expect(r.status).toBe('succeeded');
    expect(r.attempts.map((a) => a.state)).toEqual(['TimedOut', 'CallbackSuccess']);
    expect(r.overallState).toBe('Completed after 2 attempts. Final state CallbackSuccess: Simulated job for attempt 2 succeeded.');
    expect(r.attempts[1]!.output).toEqual({ simulated: true, attempt: 2 });
  });

  it('refuses a trigger body that is not Tether’s', async () => {
    const res = await s.request<{ error: { message: string } }>('POST', '/simulator/jobs', { json: { hello: 1 } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/runId|attemptId|attempt|callbackUrl/);
  });
});

describe('TETHER_SIMULATOR=off', () => {
  it('has no /simulator routes', async () => {
    const off = await startServer({ env: { TETHER_SIMULATOR: 'off' } });
    try {
      expect(off.app.tether.settings.simulator).toBe(false);
      expect((await off.request('POST', '/simulator/jobs', { json: {} })).status).toBe(404);
      expect((await off.request('GET', '/simulator/jobs')).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
