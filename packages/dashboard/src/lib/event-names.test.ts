import { describe, expect, it } from 'vitest';
import { fixtures } from '../test/fixtures.ts';
import { attemptNumbersOf, eventName, VERDICT_MEANING, verdictWord } from './event-names.ts';

describe('eventName', () => {
  it.each([
    ['xstate.after.attemptTimeout.run.attempt.awaitingCallback', 2, 'attempt 2 timed out'],
    ['xstate.after.attemptTimeout.run.attempt.triggering', undefined, 'attempt timed out'],
    ['xstate.after.retryBackoff.run.retrying', undefined, 'backoff ended'],
    ['xstate.after.heartbeatTimeout.run.attempt.awaitingCallback', 1, 'heartbeat timed out'],
    ['run.start', undefined, 'run started'],
    ['run.created', undefined, 'run created'],
    ['run.cancel', undefined, 'run cancelled'],
    ['trigger.succeeded', 1, 'trigger answered'],
    ['trigger.failed', 1, 'trigger failed'],
    ['trigger.resent', 1, 'trigger re-sent'],
    ['callback.received', 1, 'callback'],
    ['heartbeat.received', 1, 'heartbeat'],
    ['server.recovered', undefined, 'server restarted'],
    ['notify.delivered', undefined, 'webhook delivered'],
    ['notify.failed', undefined, 'webhook failed'],
    ['notify.redeliver', undefined, 'webhook re-delivery requested'],
    ['attempt.forceTimeout', 3, 'attempt 3 timed out by an operator'],
  ] as const)('%s (attempt %s) → %s', (type, n, name) => {
    expect(eventName(type, n)).toBe(name);
  });

  it('keeps unknown types as they are, and names unknown timers', () => {
    expect(eventName('something.new')).toBe('something.new');
    expect(eventName('xstate.after.fooTimer.run.x')).toBe('fooTimer elapsed');
  });
});

describe('verdictWord', () => {
  it('is the API’s own word, so the page, the log and the API say the same', () => {
    expect(verdictWord('applied')).toBe('applied');
    expect(verdictWord('unauthorized')).toBe('unauthorized');
    expect(verdictWord('not_found')).toBe('not found');
    expect(Object.keys(VERDICT_MEANING).sort()).toEqual(
      ['applied', 'conflict', 'duplicate', 'invalid', 'late', 'not_found', 'recorded', 'rejected', 'unauthorized'].sort(),
    );
  });
});

describe('attemptNumbersOf', () => {
  it('gives timer entries the attempt of the last applied entry that named one', () => {
    const f = fixtures.exhausted;
    const numbers = attemptNumbersOf(f.run.attempts, f.events);
    const timeouts = f.events.filter((e) => e.type.startsWith('xstate.after.attemptTimeout'));
    expect(timeouts.map((e) => numbers.get(e.seq))).toEqual([1, 2, 3]);
    expect(numbers.get(f.events[0]!.seq)).toBeUndefined();
  });
});
