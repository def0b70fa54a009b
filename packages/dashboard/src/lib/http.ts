/**
 * The one place the dashboard talks HTTP. Errors from the server are `{ error: { code, message } }` where the
 * message starts with the field path ("timeoutSeconds must be > 0"); they are parsed back into field errors so
 * forms can show each one next to its field.
 */
import type { ErrorBody, FieldError } from '@tether/machine';

/** A field path at the start of a server message: `backoff.maxSeconds`, `target.headers.X-Key`, `(body)`. */
const FIELD_AT_START = /^((?:\(body\))|(?:[A-Za-z_$][\w$-]*(?:\.[\w$-]+)*))\s+(.+)$/;

export function parseFieldErrors(message: string): FieldError[] {
  return message
    .split(/;\s+/)
    .map((part) => part.trim())
    .filter(Boolean)
    .flatMap((part) => {
      const m = FIELD_AT_START.exec(part);
      return m ? [{ field: m[1]!, message: m[2]! }] : [];
    });
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Field errors named by the message; empty when the message names a rule rather than a field. */
  readonly fieldErrors: FieldError[];

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fieldErrors = status === 400 ? parseFieldErrors(message) : [];
  }
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
    throw new ApiError(0, 'NETWORK', 'Cannot reach the Tether server. Is it running (pnpm start)?');
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
    if (isErrorBody(data)) throw new ApiError(res.status, data.error.code, data.error.message);
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
