/**
 * The machine package's host-side pure modules: the one interpreter of actions (effects.ts), the fast decider
 * (decide.ts) against xstate's own transition, replay (replay.ts) and the callback verdicts (verdict.ts).
 */
import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import {
  applyTimerEffects,
  callbackVerdict,
  decide,
  decideInitial,
  heartbeatVerdict,
  replayPersisted,
  replayRun,
  runMachine,
  sameCallback,
  toEffects,
  UnknownActionError,
  type RunEvent,
  type RunInput,
} from '../src/index.ts';
import { Host, T0, TIMER, baseConfig, sec } from './drive.ts';

const input = (over = {}): RunInput => ({ runId: 'run_core', config: baseConfig({ retryLimit: 1, ...over }), at: T0 });
const persisted = (s: Parameters<typeof runMachine.getPersistedSnapshot>[0]) =>
  JSON.parse(JSON.stringify(runMachine.getPersistedSnapshot(s))) as unknown;

describe('toEffects: the one interpreter of actions', () => {
  it('turns a delayed raise into a timer at an absolute time, a cancel into its removal, triggerAttempt into sendTrigger', () => {
    const [s0] = initialTransition(runMachine, input());
    const [, actions] = transition(runMachine, s0, { type: 'run.start', at: T0 });
    expect(toEffects(actions, T0)).toEqual([
      { type: 'sendTrigger', attemptId: 'att_core_1', number: 1 },
      { type: 'armTimer', key: expect.stringContaining('attemptTimeout'), dueAt: T0 + sec(60), eventType: TIMER.triggering },
    ]);
  });

  it('refuses an action it does not know, instead of silently dropping it', () => {
    expect(() => toEffects([{ type: 'somethingNew' }], T0)).toThrow(UnknownActionError);
  });

  it('applyTimerEffects: arms replace by key, cancels remove, the input is not changed', () => {
    const before = [{ key: 'a', dueAt: 1, eventType: 'x' }];
    const after = applyTimerEffects(before, [
      { type: 'armTimer', key: 'a', dueAt: 5, eventType: 'x' as never },
      { type: 'armTimer', key: 'b', dueAt: 7, eventType: 'y' as never },
      { type: 'cancelTimer', key: 'b' },
    ]);
    expect(after).toEqual([{ key: 'a', dueAt: 5, eventType: 'x' }]);
    expect(before).toEqual([{ key: 'a', dueAt: 1, eventType: 'x' }]);
  });
});

describe('decide equals xstate transition; replay equals the driven snapshot', () => {
  it('over a whole run with a timeout, a retry and a success', () => {
    const inp = input({ retryLimit: 2 });
    const [fast] = decideInitial(inp);
    const [slow] = initialTransition(runMachine, inp);
    expect(persisted(fast)).toEqual(persisted(slow));

    const h = new Host(inp);
    const log: Array<{ type: string; at: number }> = [];
    const send = (e: RunEvent) => {
      log.push(e);
      h.send(e);
    };
    send({ type: 'run.start', at: T0 });
    send({ type: 'trigger.succeeded', attemptId: 'att_core_1', at: T0 + 10 });
    log.push(h.fireNext()); // attempt 1 times out
    log.push(h.fireNext()); // the backoff ends: attempt 2 opens
    const opened = h.snapshot.context.attempts[1]!.started;
    send({ type: 'trigger.succeeded', attemptId: 'att_core_2', at: opened + 10 });
    send({ type: 'callback.received', attemptId: 'att_core_2', success: true, at: opened + 20 });
    expect(h.snapshot.value).toBe('succeeded');

    // decide and xstate's transition agree at every step, snapshot and effects alike.
    let s = slow;
    for (const e of log) {
      const [a, aActions] = decide(s, e as RunEvent);
      const [b, bActions] = transition(runMachine, s, e as RunEvent);
      expect(persisted(a)).toEqual(persisted(b));
      expect(toEffects(aActions, e.at)).toEqual(toEffects(bActions, e.at));
      s = b;
    }
    // Replay of the log, as a store keeps it (applied entries with their exact events), is the driven snapshot; a
    // rejected entry in the middle changes nothing; replay up to a seq stops there.
    const entries = log.map((event, seq) => ({ seq, verdict: 'applied', event }));
    const withRejected = [
      ...entries.slice(0, 2),
      { seq: 2, verdict: 'late', event: undefined },
      ...entries.slice(2).map((e) => ({ ...e, seq: e.seq + 1 })),
    ];
    expect(replayPersisted(inp, entries)).toEqual(persisted(h.snapshot));
    expect(replayPersisted(inp, withRejected)).toEqual(persisted(h.snapshot));
    expect(replayRun(inp, entries, 2).context.attempts.map((a) => a.state)).toEqual(['TimedOut']);
  });
});

describe('callback and heartbeat verdicts', () => {
  const waiting = () => {
    const h = new Host(input());
    h.send({ type: 'run.start', at: T0 });
    h.send({ type: 'trigger.succeeded', attemptId: 'att_core_1', at: T0 + 5 });
    return h;
  };

  it('accepted while waiting; then duplicate for the same body (any key order), conflict for another', () => {
    const h = waiting();
    const cb = { type: 'callback.received' as const, attemptId: 'att_core_1', success: true, output: { a: 1, b: 2 }, at: T0 + 100 };
    expect(callbackVerdict(h.snapshot, cb)).toMatchObject({
      result: 'accepted',
      logVerdict: 'applied',
      httpStatus: 200,
      detail: 'Success accepted.',
    });
    h.send(cb);
    expect(callbackVerdict(h.snapshot, { ...cb, output: { b: 2, a: 1 }, at: T0 + 200 })).toMatchObject({ result: 'duplicate', httpStatus: 200 });
    expect(callbackVerdict(h.snapshot, { ...cb, success: false, at: T0 + 200 })).toMatchObject({ result: 'conflict', httpStatus: 409 });
    expect(sameCallback({ success: true, output: { a: [1, { c: 1, d: 2 }] } }, { success: true, output: { a: [1, { d: 2, c: 1 }] } })).toBe(true);
  });

  it('late at or after the deadline, even before the timer fired; not_found for an attempt the run never had', () => {
    const h = waiting();
    const due = h.snapshot.context.attempts[0]!.timeoutDue;
    const late = callbackVerdict(h.snapshot, { type: 'callback.received', attemptId: 'att_core_1', success: true, at: due });
    expect(late).toMatchObject({ result: 'late', httpStatus: 410 });
    expect(late.message).toMatch(/reached its deadline .* it is timing out/);
    expect(callbackVerdict(h.snapshot, { type: 'callback.received', attemptId: 'att_core_9', success: true, at: T0 + 1 })).toMatchObject({
      result: 'not_found',
      httpStatus: 404,
      message: 'Run run_core has no attempt att_core_9.',
    });
    expect(heartbeatVerdict(h.snapshot, { type: 'heartbeat.received', attemptId: 'att_core_1', at: T0 + 50 })).toMatchObject({ result: 'accepted' });
    expect(heartbeatVerdict(h.snapshot, { type: 'heartbeat.received', attemptId: 'att_core_1', at: due })).toMatchObject({
      result: 'late',
      httpStatus: 410,
    });
  });
});
