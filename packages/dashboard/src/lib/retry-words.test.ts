import { describe, expect, it } from 'vitest';
import { describeRetryPolicy, formatSeconds } from './retry-words.ts';

const target = { url: 'http://example.test/jobs' };

describe('describeRetryPolicy', () => {
  it('lists the backoff delays the machine schedules', () => {
    expect(describeRetryPolicy({ target, timeoutSeconds: 30, retryLimit: 3 })).toBe(
      'up to 4 attempts in all (3 retries), 1 s → 2 s → 4 s backoff, 30 s timeout each',
    );
  });

  it('says "no retries" for retryLimit 0', () => {
    expect(describeRetryPolicy({ target, timeoutSeconds: 10, retryLimit: 0 })).toBe('no retries (1 attempt), 10 s timeout');
  });

  it('caps the delays at maxSeconds and shortens long lists', () => {
    expect(describeRetryPolicy({ target, timeoutSeconds: 5, retryLimit: 10, backoff: { initialSeconds: 30, maxSeconds: 120 } })).toBe(
      'up to 11 attempts in all (10 retries), 30 s → 1 min → 2 min → … → 2 min backoff, 5 s timeout each',
    );
  });

  it('names jitter, the heartbeat timeout and the deadline', () => {
    expect(
      describeRetryPolicy({
        target,
        timeoutSeconds: 60,
        retryLimit: 1,
        backoff: { initialSeconds: 1.5, jitter: 'full' },
        heartbeatTimeoutSeconds: 10,
        deadlineSeconds: 3600,
      }),
    ).toBe(
      'up to 2 attempts in all (1 retry), 1.5 s backoff (full jitter), 1 min timeout each, heartbeat timeout 10 s, deadline 1 h after the start',
    );
  });
});

describe('formatSeconds', () => {
  it.each([
    [0.25, '0.25 s'],
    [2, '2 s'],
    [90, '1 min 30 s'],
    [3900, '1 h 5 min'],
  ])('%s → %s', (s, out) => expect(formatSeconds(s)).toBe(out));
});
