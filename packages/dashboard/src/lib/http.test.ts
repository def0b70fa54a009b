import { describe, expect, it } from 'vitest';
import { ApiError, parseFieldErrors } from './http.ts';

describe('parseFieldErrors (server messages start with the field path)', () => {
  it('reads one or several field errors', () => {
    expect(parseFieldErrors('timeoutSeconds must be > 0')).toEqual([{ field: 'timeoutSeconds', message: 'must be > 0' }]);
    expect(parseFieldErrors('backoff.maxSeconds must be >= backoff.initialSeconds; target.headers.X-Key is not a valid header name')).toEqual([
      { field: 'backoff.maxSeconds', message: 'must be >= backoff.initialSeconds' },
      { field: 'target.headers.X-Key', message: 'is not a valid header name' },
    ]);
    expect(parseFieldErrors('(body) must be a JSON object')).toEqual([{ field: '(body)', message: 'must be a JSON object' }]);
  });

  it('only 400s carry field errors', () => {
    expect(new ApiError(400, 'TETHER_VALIDATION', 'retryLimit must be >= 0').fieldErrors).toEqual([{ field: 'retryLimit', message: 'must be >= 0' }]);
    expect(new ApiError(409, 'TETHER_RUN_FINAL', 'Run run_1 is already final').fieldErrors).toEqual([]);
  });
});
