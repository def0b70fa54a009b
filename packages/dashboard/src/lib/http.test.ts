import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, api } from './http.ts';

const answer = (status: number, body: unknown) =>
  vi.fn(async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }));

describe('api: errors', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('reads every field error from the body’s `fields`, as the server named them', async () => {
    const fields = [
      { path: 'backoff.maxSeconds', message: 'must be >= backoff.initialSeconds' },
      { path: 'target.headers.X-Key', message: 'is not a valid header name' },
      { path: 'timout', message: 'is not a known field' },
    ];
    vi.stubGlobal(
      'fetch',
      answer(400, { error: { code: 'TETHER_VALIDATION', message: 'backoff.maxSeconds must be >= backoff.initialSeconds; and 2 more', fields } }),
    );
    const err = await api('/api/runs', { method: 'POST', body: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: 'TETHER_VALIDATION', fields });
  });

  it('an error about a rule, not a field, has no field errors; its message is not parsed for any', async () => {
    vi.stubGlobal('fetch', answer(409, { error: { code: 'TETHER_RUN_FINAL', message: 'retryLimit must be >= 0' } }));
    const err = (await api('/api/runs/run_1/cancel', { method: 'POST', body: {} }).catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe('TETHER_RUN_FINAL');
    expect(err.fields).toEqual([]);
  });
});
