/**
 * Regression: a callback that arrives at or after the attempt's deadline, before the host's timer has fired, is late.
 * Found by the soak (issue 9): with the timer a few ms behind, such a callback used to be accepted.
 */
import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { runMachine, type RunEvent } from '../src/index.ts';

const T0 = Date.UTC(2026, 0, 1);
function awaiting(extra: Record<string, unknown> = {}) {
  const config = { target: { url: 'http://ext.test/jobs' }, timeoutSeconds: 10, retryLimit: 1, ...extra };
  let [s] = initialTransition(runMachine, { runId: 'run_race', config, at: T0 });
  [s] = transition(runMachine, s, { type: 'run.start', at: T0 });
  [s] = transition(runMachine, s, { type: 'trigger.succeeded', attemptId: 'att_race_1', at: T0 + 100 });
  return s;
}

describe('deadline race', () => {
  it('accepts a callback 1 ms before timeoutDue', () => {
    const s = awaiting();
    const ev: RunEvent = { type: 'callback.received', attemptId: 'att_race_1', success: true, at: T0 + 9_999 };
    expect(s.can(ev)).toBe(true);
    expect(transition(runMachine, s, ev)[0].value).toBe('succeeded');
  });

  it.each([0, 1, 250])('refuses a callback %i ms after timeoutDue although the timer has not fired', (after) => {
    const s = awaiting();
    for (const success of [true, false]) {
      const ev: RunEvent = { type: 'callback.received', attemptId: 'att_race_1', success, at: T0 + 10_000 + after };
      expect(s.can(ev)).toBe(false);
      const [next] = transition(runMachine, s, ev);
      expect(next.context).toEqual(s.context);
    }
  });

  it('refuses a heartbeat after the heartbeat deadline', () => {
    const s = awaiting({ heartbeatTimeoutSeconds: 2 });
    expect(s.can({ type: 'heartbeat.received', attemptId: 'att_race_1', at: T0 + 2_099 })).toBe(true);
    expect(s.can({ type: 'heartbeat.received', attemptId: 'att_race_1', at: T0 + 2_100 })).toBe(false);
    // …and the timer that is due then times the attempt out with HeartbeatTimedOut.
    const [next] = transition(runMachine, s, { type: 'xstate.after.attemptTimeout.run.attempt.awaitingCallback', at: T0 + 2_100 } as never);
    expect(next.context.attempts[0]!.state).toBe('HeartbeatTimedOut');
  });
});
