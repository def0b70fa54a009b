/** One HTTP exchange with Tether over the platform's `fetch`: JSON in, JSON out, every failure a TetherError. */
import { CLIENT_ERROR_CODES, TetherError, errorBodyOf } from './errors.ts';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE';
  /** Absolute URL. */
  url: string;
  /** JSON-encoded when given; no body (and no content type) when undefined. */
  json?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface Answer<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** Query string from the defined entries, `?`-prefixed, or '' when none. */
export function queryString(q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

const snippet = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

/**
 * Sends the request and parses the answer. 2xx with a JSON body → the body; an `{ error }` body → TetherError with
 * its code, status and fields; no answer → `TETHER_CLIENT_NETWORK`; anything else → `TETHER_CLIENT_BAD_RESPONSE`.
 * `errorFor` lets a caller map a non-2xx JSON body that is not an `{ error }` (the callback webhook's verdicts).
 */
export async function send<T>(
  fetchFn: FetchLike,
  spec: RequestSpec,
  errorFor?: (status: number, body: unknown) => TetherError | undefined,
): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
  const init: RequestInit = { method: spec.method, headers };
  if (spec.json !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(spec.json);
  }
  if (spec.signal) init.signal = spec.signal;
  const where = `${spec.method} ${spec.url.split('?')[0]}`;
  let res: Response;
  let text: string;
  try {
    res = await fetchFn(spec.url, init);
    text = await res.text();
  } catch (cause) {
    if (spec.signal?.aborted) throw spec.signal.reason ?? cause;
    const detail = (cause as { cause?: { code?: string; message?: string } })?.cause;
    const why = detail?.code ?? detail?.message ?? (cause as Error)?.message ?? String(cause);
    throw new TetherError(CLIENT_ERROR_CODES.network, `${where}: no answer (${why})`, { cause });
  }
  let body: unknown;
  let parsed = false;
  if (text !== '') {
    try {
      body = JSON.parse(text);
      parsed = true;
    } catch {
      body = undefined;
    }
  }
  if (res.ok) {
    // 204 No Content (DELETE): nothing to parse.
    if (res.status === 204) return { status: res.status, headers: res.headers, body: undefined as T };
    if (!parsed)
      throw new TetherError(CLIENT_ERROR_CODES.badResponse, `${where}: ${res.status} answer is not JSON: ${snippet(text)}`, { status: res.status });
    return { status: res.status, headers: res.headers, body: body as T };
  }
  const apiError = errorBodyOf(body);
  if (apiError) throw new TetherError(apiError.code, apiError.message, { status: res.status, fields: apiError.fields ?? [], body });
  const mapped = parsed ? errorFor?.(res.status, body) : undefined;
  if (mapped) throw mapped;
  throw new TetherError(CLIENT_ERROR_CODES.badResponse, `${where}: HTTP ${res.status} ${snippet(text)}`.trimEnd(), {
    status: res.status,
    ...(parsed ? { body } : {}),
  });
}
