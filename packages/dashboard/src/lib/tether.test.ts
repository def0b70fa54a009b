import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, apiToken } from './http.ts';
import { runsApi } from './tether.ts';

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('runsApi: the shared @tether/client instance', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    apiToken.set(null);
  });

  it('sends by path on this origin, through the fetch of the moment, with the token saved now', async () => {
    const fetch = vi.fn(async () => json(200, { runs: [], nextCursor: null }));
    vi.stubGlobal('fetch', fetch);
    apiToken.set('s3cret');
    await runsApi((runs) => runs.listPage({ limit: 200 }));
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/runs?limit=200');
    expect(init.headers).toMatchObject({ authorization: 'Bearer s3cret', accept: 'application/json' });
  });

  it('throws the server’s error as an ApiError with its status, code and fields', async () => {
    const fields = [{ path: 'target.url', message: 'is required' }];
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => json(400, { error: { code: 'TETHER_VALIDATION', message: 'target.url is required', fields } })),
    );
    const err = await runsApi((runs) => runs.create({} as never)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: 'TETHER_VALIDATION', message: 'target.url is required', fields });
  });

  it('no answer is NETWORK (status 0); an answer that is not Tether’s is HTTP_<status>', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))),
    );
    expect(await runsApi((runs) => runs.get('run_1')).catch((e: unknown) => e)).toMatchObject({ status: 0, code: 'NETWORK' });
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('<html>Bad Gateway</html>', { status: 502 })),
    );
    expect(await runsApi((runs) => runs.get('run_1')).catch((e: unknown) => e)).toMatchObject({ status: 502, code: 'HTTP_502' });
  });

  it('an aborted call rejects with an AbortError, also for calls the client takes no signal for', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(() => new Promise<Response>(() => {})),
    );
    const ctrl = new AbortController();
    const pending = runsApi((runs) => runs.events('run_1'), ctrl.signal).catch((e: unknown) => e);
    ctrl.abort();
    expect((await pending) as Error).toMatchObject({ name: 'AbortError' });
  });
});
