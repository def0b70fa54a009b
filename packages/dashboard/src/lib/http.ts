/**
 * How the dashboard talks HTTP, and the one error its components read. The runs API goes through `@tether/client`
 * (./tether.ts), whose TetherError is mapped to ApiError here; `api()` is for the calls the client has no method for.
 * Errors from the server are `{ error: { code, message, fields? } }`: an error about fields lists every one of them in
 * `fields`, so a form shows each next to its control, all at once.
 */
import { CLIENT_ERROR_CODES, TetherError } from '@tether/client';
import type { ErrorBody, ErrorField } from '@tether/machine/protocol';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Every field the server refused, as it named them; empty when the error is about a rule rather than a field. */
  readonly fields: readonly ErrorField[];

  constructor(status: number, code: string, message: string, fields: readonly ErrorField[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

const NETWORK_MESSAGE = 'Cannot reach the Tether server. Is it running (pnpm start)?';

/**
 * The client's TetherError as the ApiError the components read: the server's code, message, status and fields as they
 * are; no answer is `NETWORK` (status 0) and an answer that is not Tether's `HTTP_<status>`, as `api()` has them.
 * Anything else (an AbortError) is returned unchanged.
 */
export function toApiError(e: unknown): unknown {
  if (!(e instanceof TetherError)) return e;
  if (e.code === CLIENT_ERROR_CODES.network) return new ApiError(0, 'NETWORK', NETWORK_MESSAGE);
  if (e.code === CLIENT_ERROR_CODES.badResponse)
    return new ApiError(e.status, `HTTP_${e.status}`, e.status >= 400 ? `${e.status} request failed` : e.message);
  return new ApiError(e.status, e.code, e.message, e.fields);
}

const TOKEN_KEY = 'tether.apiToken';

/** Optional bearer token for servers started with TETHER_API_TOKEN; kept in this browser only. */
export const apiToken = {
  get: (): string | null => {
    try {
      return window.localStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  },
  set: (token: string | null): void => {
    if (token) window.localStorage.setItem(TOKEN_KEY, token);
    else window.localStorage.removeItem(TOKEN_KEY);
  },
};

function isErrorBody(v: unknown): v is ErrorBody {
  return typeof v === 'object' && v !== null && 'error' in v && typeof (v as ErrorBody).error?.message === 'string';
}

/** The body's `fields`, keeping only well-formed entries: a proxy or an older server may answer without them. */
const fieldsOf = (body: ErrorBody): ErrorField[] =>
  Array.isArray(body.error.fields) ? body.error.fields.filter((f) => typeof f?.path === 'string' && typeof f.message === 'string') : [];

export interface RequestOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  signal?: AbortSignal;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const token = apiToken.get();
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      signal: options.signal ?? null,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', NETWORK_MESSAGE);
  }
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!res.ok) {
    if (isErrorBody(data)) throw new ApiError(res.status, data.error.code, data.error.message, fieldsOf(data));
    throw new ApiError(res.status, `HTTP_${res.status}`, `${res.status} ${res.statusText || 'request failed'}`);
  }
  return data as T;
}

/** Absolute ws:// URL for a path on this origin (the dev server proxies /api, ws included). */
export function wsUrl(path: string): string {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}
