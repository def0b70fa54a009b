/**
 * Writes src/test/fixtures/*.machine.json: runs recorded by driving the real `runMachine` through the pure API
 * (initialTransition / transition), projected with the shared `toRun` / `toRunSummary`, with an event log shaped
 * like the server's (`RunEventEntry`). The `.machine.json` suffix says where they came from: once the server
 * records runs, re-record the same scenarios from it as `<scenario>.server.json` (GET /api/runs/:id and
 * /api/runs/:id/events) and point the tests at those.
 *
 *   pnpm --filter @tether/dashboard fixtures
 *
 * Deterministic: fixed clock, fixed ids, no randomness.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initialTransition, transition } from 'xstate';
import {
  attemptIdFor,
  leafState,
  runMachine,
  toRun,
  toRunSummary,
  type EventSource,
  type EventVerdict,
  type RunConfig,
  type RunEvent,
  type RunEventEntry,
  type RunSnapshot,
  type TimerEvent,
} from '@tether/machine';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'test', 'fixtures');
const T0 = Date.parse('2026-03-02T09:00:00.000Z');
const ORIGIN = 'http://127.0.0.1:3000';
const SIMULATOR = `${ORIGIN}/simulator/jobs`;

const urlsFor = (runId: string, attemptId: string) => ({
  callbackUrl: `${ORIGIN}/api/callbacks/${runId}/${attemptId}?sig=fixture-${attemptId}`,
  heartbeatUrl: `${ORIGIN}/api/callbacks/${runId}/${attemptId}/heartbeat?sig=fixture-${attemptId}`,
});

interface PendingTimer {
  type: string;
  dueAt: number;
}

/** Drives one run the way the engine does: applies events, keeps the timers the machine asks for, logs entries. */
class Recorder {
  snapshot: RunSnapshot;
  readonly events: RunEventEntry[] = [];
  private readonly timers = new Map<string, PendingTimer>();

  constructor(
    readonly runId: string,
    config: RunConfig,
  ) {
    [this.snapshot] = initialTransition(runMachine, { runId, config, at: T0 });
    // The server opens every log with this entry before it applies run.start.
    this.log({ at: new Date(T0).toISOString(), type: 'run.created', source: 'api', verdict: 'recorded', detail: 'Created.', stateAfter: 'idle' });
  }

  attemptId(n: number): string {
    return attemptIdFor(this.runId, n);
  }

  private log(entry: Omit<RunEventEntry, 'seq'>): void {
    this.events.push({ seq: this.events.length, ...entry });
  }

  apply(event: RunEvent | TimerEvent, source: EventSource, extra: { httpStatus?: number; detail?: string } = {}): this {
    const [next, actions] = transition(runMachine, this.snapshot, event as RunEvent);
    this.snapshot = next;
    for (const a of actions as Array<{ type: string; params?: Record<string, unknown> }>) {
      if (a.type === 'xstate.raise' && typeof a.params?.delay === 'number') {
        const raised = a.params.event as { type: string };
        this.timers.set(String(a.params.id), { type: raised.type, dueAt: event.at + a.params.delay });
      } else if (a.type === 'xstate.cancel') {
        this.timers.delete(String(a.params?.sendId));
      }
    }
    const attemptId = 'attemptId' in event ? (event.attemptId as string) : undefined;
    this.log({
      at: new Date(event.at).toISOString(),
      type: event.type,
      source,
      verdict: 'applied',
      ...(attemptId ? { attemptId } : {}),
      ...(extra.httpStatus !== undefined ? { httpStatus: extra.httpStatus } : {}),
      ...(extra.detail ? { detail: extra.detail } : {}),
      stateAfter: leafState(next.value),
      event,
    });
    return this;
  }

  /** The earliest armed timer, as the engine would fire it `latenessMs` after its due time. */
  fireTimer(latenessMs: number): this {
    const next = [...this.timers.values()].sort((a, b) => a.dueAt - b.dueAt)[0];
    if (!next) throw new Error(`${this.runId}: no timer armed`);
    return this.apply({ type: next.type as TimerEvent['type'], at: next.dueAt + latenessMs }, 'timer', {
      detail: `Timer due ${new Date(next.dueAt).toISOString()} fired ${latenessMs} ms late.`,
    });
  }

  dueOfNextTimer(): number {
    const next = [...this.timers.values()].sort((a, b) => a.dueAt - b.dueAt)[0];
    if (!next) throw new Error(`${this.runId}: no timer armed`);
    return next.dueAt;
  }

  /** An entry the engine records without changing the run (rejected callbacks, restarts). */
  record(entry: {
    at: number;
    type: string;
    source: EventSource;
    verdict: EventVerdict;
    attemptId?: string;
    httpStatus?: number;
    detail: string;
  }): this {
    const { at, ...rest } = entry;
    this.log({ at: new Date(at).toISOString(), ...rest, stateAfter: leafState(this.snapshot.value) });
    return this;
  }

  start(): this {
    return this.apply({ type: 'run.start', at: T0 }, 'api', { detail: 'run started' });
  }

  triggered(n: number, at: number, status = 202): this {
    return this.apply({ type: 'trigger.succeeded', attemptId: this.attemptId(n), at }, 'trigger', {
      httpStatus: status,
      detail: `trigger answered ${status}`,
    });
  }

  callback(n: number, at: number, body: { success: boolean; message?: string; retryable?: boolean }): this {
    return this.apply({ type: 'callback.received', attemptId: this.attemptId(n), at, ...body }, 'callback', {
      httpStatus: 200,
      detail: body.success ? 'Success accepted.' : 'Failure accepted.',
    });
  }
}

interface Fixture {
  fixture: string;
  recordedWith: string;
  description: string;
  /** The instant the fixture is looked at: use it as the test's `now`. */
  now: string;
  run: ReturnType<typeof toRun>;
  summary: ReturnType<typeof toRunSummary>;
  events: RunEventEntry[];
}

function save(name: string, description: string, rec: Recorder, nowOffsetMs: number, meta: { rerunOf?: string } = {}): void {
  const fixture: Fixture = {
    fixture: name,
    recordedWith: 'scripts/make-fixtures.ts (pure runMachine + toRun/toRunSummary; re-record from the server as *.server.json)',
    description,
    now: new Date(T0 + nowOffsetMs).toISOString(),
    run: toRun(rec.snapshot, { rerunOf: meta.rerunOf ?? null }, urlsFor),
    summary: toRunSummary(rec.snapshot),
    events: rec.events,
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, `${name}.machine.json`), `${JSON.stringify(fixture, null, 2)}\n`);
  console.log(`wrote ${name}.machine.json  state=${fixture.run.state} attempts=${fixture.run.attempts.length} events=${fixture.events.length}`);
}

const base = (name: string, overrides: Partial<RunConfig> & { payload?: unknown }): RunConfig => ({
  name,
  target: { url: SIMULATOR },
  timeoutSeconds: 10,
  retryLimit: 4,
  ...overrides,
});

// 1. The seed's example: attempt 1 never calls back and times out, attempt 2 succeeds. Then the callback lane's
//    cases: attempt 1 calling back after it timed out (410), the same success again (200 duplicate), a contradicting
//    body (409 conflict).
{
  const r = new Recorder(
    'run_01seed',
    base('seed: never, then success', {
      payload: { simulate: { perAttempt: ['never', 'success'] } },
      backoff: { initialSeconds: 2 },
    }),
  );
  r.start().triggered(1, T0 + 120);
  r.fireTimer(35); // attempt 1 times out 35 ms late
  r.fireTimer(4); // backoff over: attempt 2 opens
  r.triggered(2, r.snapshot.context.attempts[1]!.started + 110);
  r.record({
    at: T0 + 13_000,
    type: 'callback.received',
    source: 'callback',
    verdict: 'late',
    attemptId: r.attemptId(1),
    httpStatus: 410,
    detail: 'Attempt 1 is no longer waiting: it timed out at 2026-03-02T09:00:10.035Z.',
  });
  r.callback(2, T0 + 15_500, { success: true, message: 'Export finished' });
  r.record({
    at: T0 + 15_800,
    type: 'callback.received',
    source: 'callback',
    verdict: 'duplicate',
    attemptId: r.attemptId(2),
    httpStatus: 200,
    detail: 'Attempt 2 was already settled with this callback.',
  });
  r.record({
    at: T0 + 16_000,
    type: 'callback.received',
    source: 'callback',
    verdict: 'conflict',
    attemptId: r.attemptId(2),
    httpStatus: 409,
    detail: 'Attempt 2 was already settled with a different callback (CallbackSuccess).',
  });
  save(
    'seed-timeout-then-success',
    "The seed's scenario: attempt 1 times out, attempt 2 succeeds; late, duplicate and conflicting callbacks follow.",
    r,
    20_000,
  );
}

// 2. Live: attempt 1 failed by callback, attempt 2 waiting; a forged callback was refused; the server restarted
//    and re-armed attempt 2's timer with 1 840 ms left.
{
  const r = new Recorder(
    'run_02live',
    base('nightly export', {
      timeoutSeconds: 30,
      retryLimit: 3,
      backoff: { initialSeconds: 5 },
      payload: { simulate: { perAttempt: ['failure', 'never'] } },
    }),
  );
  r.start().triggered(1, T0 + 150);
  r.callback(1, T0 + 8_000, { success: false, message: 'Disk full on worker 3' });
  r.fireTimer(2);
  const a2 = r.snapshot.context.attempts[1]!;
  r.triggered(2, a2.started + 130);
  r.record({
    at: T0 + 20_000,
    type: 'callback.received',
    source: 'callback',
    verdict: 'unauthorized',
    attemptId: r.attemptId(2),
    httpStatus: 401,
    detail: 'Signature does not match this run and attempt.',
  });
  const due = r.dueOfNextTimer();
  r.record({
    at: due - 1_840,
    type: 'server.recovered',
    source: 'server',
    verdict: 'recorded',
    attemptId: r.attemptId(2),
    detail: 'Server restarted; attempt 2 timer re-armed with 1840 ms left.',
  });
  save(
    'waiting-after-restart',
    'Live: attempt 2 awaiting its callback after a failure callback, a refused forged callback and a server restart.',
    r,
    due - 1_000 - T0,
  );
}

// 3. In backoff: the trigger failed, then attempt 2 timed out; attempt 3 waits for its backoff.
{
  const r = new Recorder(
    'run_03backoff',
    base('invoice sync', {
      timeoutSeconds: 5,
      retryLimit: 5,
      backoff: { initialSeconds: 30, multiplier: 2 },
      payload: { simulate: { perAttempt: ['triggerError', 'never'] } },
    }),
  );
  r.start();
  r.apply({ type: 'trigger.failed', attemptId: r.attemptId(1), message: 'HTTP 503 Service Unavailable', at: T0 + 300 }, 'trigger', {
    httpStatus: 503,
    detail: 'trigger answered 503',
  });
  r.fireTimer(1);
  r.triggered(2, r.snapshot.context.attempts[1]!.started + 140);
  r.fireTimer(12);
  save('in-backoff', 'In backoff before attempt 3: a failed trigger, then a timed-out attempt.', r, 50_000);
}

// 4. Exhausted: every attempt times out.
{
  const r = new Recorder(
    'run_04exhausted',
    base('all time out', { timeoutSeconds: 5, retryLimit: 2, backoff: { initialSeconds: 1 }, payload: { simulate: { outcome: 'never' } } }),
  );
  r.start();
  const lateness = [3, 41, 7];
  for (let n = 1; n <= 3; n++) {
    r.triggered(n, r.snapshot.context.attempts[n - 1]!.started + 100);
    r.fireTimer(lateness[n - 1]!);
    if (n < 3) r.fireTimer(2);
  }
  save('exhausted', 'Failed after using every attempt: three timeouts.', r, 30_000);
}

// 5. Overdue: waiting past its deadline with no timer firing (a lost timer).
{
  const r = new Recorder('run_05overdue', base('stuck report', { timeoutSeconds: 60, retryLimit: 1, payload: { simulate: { outcome: 'never' } } }));
  r.start().triggered(1, T0 + 200);
  save('overdue', 'Overdue: still awaiting a callback 20 s after its timeout was due.', r, 80_000);
}

// 6. Not retryable: the callback said retryable:false, so the run fails on attempt 1 without being exhausted.
{
  const r = new Recorder('run_06fatal', base('bad input', { payload: { simulate: { outcome: 'failure' } } }));
  r.start().triggered(1, T0 + 90);
  r.callback(1, T0 + 2_500, { success: false, message: 'Unknown customer id', retryable: false });
  save('not-retryable', 'Failed on attempt 1 because the failure callback said retryable: false.', r, 5_000);
}

// 7. Cancelled by an operator during a backoff.
{
  const r = new Recorder('run_07cancelled', base('cancelled sync', { timeoutSeconds: 3, retryLimit: 3, backoff: { initialSeconds: 20 } }));
  r.start().triggered(1, T0 + 100);
  r.fireTimer(5);
  r.apply({ type: 'run.cancel', reason: 'wrong customer', at: T0 + 9_000 }, 'api', { detail: 'cancelled through POST /api/runs/:id/cancel' });
  save('cancelled', 'Cancelled by an operator while backing off after attempt 1.', r, 12_000, { rerunOf: 'run_01seed' });
}
