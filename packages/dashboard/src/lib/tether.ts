/**
 * The dashboard's one Tether client (`@tether/client`), for the runs API of the server that serves this page.
 *
 * The client wants an absolute base URL, so it is given this page's origin; its requests for that origin are sent by
 * path, as the dashboard always sent them (the dev server proxies `/api`). The fetch is looked up at every call (tests
 * stub it) and carries the token saved in this browser at that moment, if any.
 */
import { Tether, type FetchLike, type RunsApi } from '@tether/client';
import { apiToken, toApiError } from './http.ts';

const origin = window.location.origin;

const pageFetch: FetchLike = (url, init = {}) => {
  const headers = Object.fromEntries(new Headers(init.headers));
  const token = apiToken.get();
  if (token) headers.authorization = `Bearer ${token}`;
  return globalThis.fetch(url.startsWith(`${origin}/`) ? url.slice(origin.length) : url, { ...init, headers });
};

export const tether = new Tether({ baseUrl: origin, fetch: pageFetch });

/** Settles as `p` does, or rejects with the signal's reason (an AbortError) as soon as it is aborted. */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * One call of the runs API, its TetherError thrown as the ApiError the components read. The signal, when given, also
 * ends the wait for calls the client takes none for (`listPage`, `events`): their request then runs to its end unread.
 */
export function runsApi<T>(call: (runs: RunsApi) => Promise<T>, signal?: AbortSignal): Promise<T> {
  return abortable(call(tether.runs), signal).catch((e: unknown) => {
    throw toApiError(e);
  });
}
