/**
 * The Tether client: the runs API (README "API"), long-polled results and the live stream. Isomorphic: `fetch` and
 * `WebSocket` come from the platform (Node 20 has no WebSocket: the `ws` package is imported then), or are injected.
 */
import {
  isFinalRunStatus,
  MAX_WAIT_SECONDS,
  type BulkAction,
  type BulkBody,
  type BulkCancelBody,
  type BulkResult,
  type CallbackBody,
  type CallbackResult,
  type CompleteBody,
  type EventList,
  type Run,
  type RunConfig,
  type RunEventEntry,
  type RunList,
  type RunListQuery,
  type RunSummary,
} from '@tether/machine/protocol';
import { CLIENT_ERROR_CODES, TetherError } from './errors.ts';
import { callback, heartbeat } from './external.ts';
import { queryString, send, type FetchLike } from './http.ts';
import {
  sleep,
  watchRun,
  type StreamContext,
  type WatchMessage,
  type WatchOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from './stream.ts';

export interface TetherOptions {
  /** Where the server is, e.g. `http://127.0.0.1:3000` (a path prefix is kept: `https://host/tether`). */
  baseUrl: string;
  /** TETHER_API_TOKEN, sent as `Authorization: Bearer`. */
  token?: string;
  /** @default globalThis.fetch */
  fetch?: FetchLike;
  /** @default globalThis.WebSocket, else the `ws` package (Node 20) */
  WebSocket?: WebSocketConstructor;
}

/** The longest `?wait=` the server takes (`RunWaitQuery`: 0–60 s), from the wire contract. */
export { MAX_WAIT_SECONDS };
/** A wait answered this much sooner than asked did not wait. */
const EARLY_SLACK_MS = 50;

export interface CreateOptions {
  /** Sent as `Idempotency-Key`: the same key again returns the run it made instead of starting another. */
  idempotencyKey?: string;
  /** `?wait=`: the server answers once the run is final or after this many seconds (≤ 60), whichever comes first. */
  waitSeconds?: number;
  signal?: AbortSignal;
}

export interface GetOptions {
  /** `?wait=`: the server answers once the run is final or after this many seconds (≤ 60), whichever comes first. */
  waitSeconds?: number;
  signal?: AbortSignal;
}

/**
 * `GET /api/runs` filters and order, typed from the wire's `RunListQuery`: `createdAfter` (inclusive) and
 * `createdBefore` (exclusive) are RFC 3339 date-times, `sort` one of RUN_LIST_SORTS (default `-createdAt`, newest
 * first); `limit` is the page size (1–500, server default 50).
 */
export type ListQuery = Pick<RunListQuery, 'status' | 'name' | 'derived' | 'sort' | 'createdAfter' | 'createdBefore'> & { limit?: number };
/** `cursor`: the previous page's `nextCursor`, with the same query (a cursor continues the sort it was made for). */
export type ListPageQuery = ListQuery & { cursor?: string | null };

/** The runs a bulk action names: `ids` (1–1000, each once), or every run a `filter` matches (at most 1000). */
export type BulkTarget = { ids: NonNullable<BulkBody['ids']>; filter?: undefined } | { filter: NonNullable<BulkBody['filter']>; ids?: undefined };
/** A bulk action's body: its target, `dryRun`, and for `cancel` only a `reason` (recorded on every run cancelled). */
export type BulkRequest<A extends BulkAction = BulkAction> = BulkTarget &
  Pick<BulkBody, 'dryRun'> &
  (A extends 'cancel' ? Pick<BulkCancelBody, 'reason'> : { reason?: undefined });

export interface RerunOptions {
  /** Replaces the payload; omit to keep the original run's. */
  payload?: unknown;
  idempotencyKey?: string;
}

export interface ResultOptions {
  /** Give up after this long with `TETHER_CLIENT_TIMEOUT`. @default Infinity */
  timeoutMs?: number;
  /** Pause between polls that came back sooner than the wait asked for (a server without `?wait`). @default 250 */
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

const trimSlash = (s: string) => s.replace(/\/+$/, '');
/** `?wait=` as the server reads it (`RunWaitQuery`: seconds, at most 3 decimals); a bad number is sent as is, for the server to name. */
const waitParam = (s: number | undefined): string | undefined =>
  s === undefined ? undefined : Number.isFinite(s) && s >= 0 ? String(Math.floor(s * 1000) / 1000) : String(s);
const seg = encodeURIComponent;
const isNetworkError = (e: unknown) => e instanceof TetherError && e.code === CLIENT_ERROR_CODES.network;

export class Tether {
  readonly baseUrl: string;
  readonly runs: RunsApi;
  private readonly token: string | undefined;
  private readonly fetchFn: FetchLike;
  private readonly WebSocketCtor: WebSocketConstructor | undefined;

  constructor(opts: TetherOptions) {
    if (!opts?.baseUrl) throw new TypeError('new Tether({ baseUrl }) needs the server URL, e.g. http://127.0.0.1:3000');
    const u = new URL(opts.baseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`baseUrl must be http(s), got ${opts.baseUrl}`);
    this.baseUrl = trimSlash(u.href.split('?')[0]!.split('#')[0]!);
    this.token = opts.token || undefined;
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.WebSocketCtor = opts.WebSocket;
    this.runs = new RunsApi(this);
  }

  /** The external system's side: report an attempt's outcome to its signed `callbackUrl` (see external.ts). */
  callback(callbackUrl: string, body: CallbackBody, opts: { signal?: AbortSignal } = {}): Promise<CallbackResult> {
    return callback(callbackUrl, body, { fetch: this.fetchFn, ...opts });
  }

  /** The external system's side: a heartbeat, with optional progress, to the attempt's signed `heartbeatUrl`. */
  heartbeat(heartbeatUrl: string, progress?: unknown, opts: { signal?: AbortSignal } = {}): Promise<CallbackResult> {
    return heartbeat(heartbeatUrl, progress, { fetch: this.fetchFn, ...opts });
  }

  /** @internal One API request: base URL, token, JSON, TetherError. */
  async request<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    o: { json?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { ...this.authHeaders(), ...o.headers };
    const a = await send<T>(this.fetchFn, {
      method,
      url: `${this.baseUrl}${path}`,
      headers,
      ...(o.json !== undefined ? { json: o.json } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return a.body;
  }

  private authHeaders(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /** @internal What the stream needs: URLs, a socket, and the API to ask why a connection failed. */
  streamContext(): StreamContext {
    // `ws` (Node 20) takes headers, so the token stays out of the URL; a platform WebSocket cannot, and gets `?token=`.
    const takesHeaders = !this.WebSocketCtor && !(globalThis as { WebSocket?: unknown }).WebSocket;
    return {
      headers: takesHeaders ? this.authHeaders() : {},
      url: (runId, withToken) => {
        const u = new URL(`${this.baseUrl}/api/stream`);
        u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
        u.searchParams.set('runId', runId);
        if (withToken && this.token) u.searchParams.set('token', this.token);
        return u.href;
      },
      open: async (url, headers) => {
        const Ctor = this.WebSocketCtor ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
        if (Ctor) return new Ctor(url);
        const { WebSocket: Ws } = await import('ws');
        return new Ws(url, { headers }) as unknown as WebSocketLike;
      },
      probe: async (runId) => {
        try {
          await this.runs.get(runId);
          return true;
        } catch (e) {
          if (isNetworkError(e)) return false;
          throw e;
        }
      },
    };
  }
}

export class RunsApi {
  constructor(private readonly t: Tether) {}

  /** `POST /api/runs`: creates and starts a run. With `waitSeconds`, the answer may be the run already final. */
  create(config: RunConfig, opts: CreateOptions = {}): Promise<Run> {
    return this.t.request<Run>('POST', `/api/runs${queryString({ wait: waitParam(opts.waitSeconds) })}`, {
      json: config,
      ...(opts.idempotencyKey !== undefined ? { headers: { 'idempotency-key': opts.idempotencyKey } } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /** `GET /api/runs/:id`; with `waitSeconds`, a long poll that answers once the run is final or the wait is over. */
  get(id: string, opts: GetOptions = {}): Promise<Run> {
    return this.t.request<Run>(
      'GET',
      `/api/runs/${seg(id)}${queryString({ wait: waitParam(opts.waitSeconds) })}`,
      opts.signal ? { signal: opts.signal } : {},
    );
  }

  /** One page of `GET /api/runs`, newest first; pass its `nextCursor` as `cursor` for the next. */
  listPage(query: ListPageQuery = {}, opts: { signal?: AbortSignal } = {}): Promise<RunList> {
    const q = queryString({
      status: query.status,
      name: query.name,
      derived: query.derived,
      createdAfter: query.createdAfter,
      createdBefore: query.createdBefore,
      sort: query.sort,
      limit: query.limit,
      cursor: query.cursor ?? undefined,
    });
    return this.t.request<RunList>('GET', `/api/runs${q}`, opts.signal ? { signal: opts.signal } : {});
  }

  /** Every run matching the query, in its `sort` (newest first by default), fetched a page (`limit`) at a time as the iteration goes. */
  async *list(query: ListQuery = {}): AsyncGenerator<RunSummary, void, undefined> {
    let cursor: string | null = null;
    do {
      const page: RunList = await this.listPage({ ...query, cursor });
      yield* page.runs;
      cursor = page.nextCursor;
    } while (cursor !== null);
  }

  /** `POST /api/runs/:id/cancel`; `409 TETHER_RUN_FINAL` if the run is already final. */
  cancel(id: string, reason?: string): Promise<Run> {
    return this.t.request<Run>('POST', `/api/runs/${seg(id)}/cancel`, { json: reason === undefined ? {} : { reason } });
  }

  /** `POST /api/runs/:id/retry-now`: skip the rest of the backoff; `409 TETHER_NOT_IN_BACKOFF` otherwise. */
  retryNow(id: string): Promise<Run> {
    return this.t.request<Run>('POST', `/api/runs/${seg(id)}/retry-now`);
  }

  /** `POST /api/runs/:id/rerun`: a new run with the same config (and `rerunOf`), the payload replaced if given. */
  rerun(id: string, opts: RerunOptions = {}): Promise<Run> {
    return this.t.request<Run>('POST', `/api/runs/${seg(id)}/rerun`, {
      json: opts.payload === undefined ? {} : { payload: opts.payload },
      ...(opts.idempotencyKey !== undefined ? { headers: { 'idempotency-key': opts.idempotencyKey } } : {}),
    });
  }

  /**
   * `POST /api/runs/bulk/{cancel,retry-now,rerun}`: the single-run action on every run of `request.ids` or matched by
   * `request.filter`, one result per run (in the order of `ids`; newest first for a filter). With `dryRun`, each
   * outcome is decided (`eligible`, `skipped`, `failed`) and nothing changes. `422 TETHER_BULK_TOO_MANY` for a filter
   * matching more than 1000 runs (nothing done); `400` listing every field that is wrong.
   */
  bulk<A extends BulkAction>(action: A, request: BulkRequest<A>, opts: { signal?: AbortSignal } = {}): Promise<BulkResult> {
    return this.t.request<BulkResult>('POST', `/api/runs/bulk/${action}`, { json: request, ...(opts.signal ? { signal: opts.signal } : {}) });
  }

  /** `POST /api/runs/:id/attempts/:attemptId/complete`: the operator settles the waiting attempt. */
  complete(id: string, attemptId: string, body: CompleteBody): Promise<Run> {
    return this.t.request<Run>('POST', `/api/runs/${seg(id)}/attempts/${seg(attemptId)}/complete`, { json: body });
  }

  /** `POST /api/runs/:id/attempts/:attemptId/timeout`: the operator times the waiting attempt out now. */
  forceTimeout(id: string, attemptId: string): Promise<Run> {
    return this.t.request<Run>('POST', `/api/runs/${seg(id)}/attempts/${seg(attemptId)}/timeout`);
  }

  /** `GET /api/runs/:id/events`: the run's whole event log, in `seq` order. */
  async events(id: string, opts: { signal?: AbortSignal } = {}): Promise<RunEventEntry[]> {
    return (await this.t.request<EventList>('GET', `/api/runs/${seg(id)}/events`, opts.signal ? { signal: opts.signal } : {})).events;
  }

  /** `POST /api/runs/:id/notification/redeliver`: the completion webhook again (202); `409 TETHER_NO_NOTIFICATION` without one. */
  redeliverNotification(id: string): Promise<Run> {
    return this.t.request<Run>('POST', `/api/runs/${seg(id)}/notification/redeliver`);
  }

  /** `DELETE /api/runs/:id`: deletes a final run (204); `409 TETHER_RUN_NOT_FINAL` while it is not final. */
  async delete(id: string): Promise<void> {
    await this.t.request<unknown>('DELETE', `/api/runs/${seg(id)}`);
  }

  /**
   * The run once it is final (succeeded, failed or cancelled), by long polls of `GET /api/runs/:id?wait=` (≤ 60 s
   * each). A poll answered sooner than it asked (a server that ignores `wait`) is followed by a pause of
   * `pollIntervalMs`, so this never spins. Network failures (a server restarting) are retried until the deadline;
   * API errors are thrown. After `timeoutMs`: TetherError `TETHER_CLIENT_TIMEOUT`.
   */
  async result(id: string, opts: ResultOptions = {}): Promise<Run> {
    const timeoutMs = opts.timeoutMs ?? Infinity;
    const pollMs = opts.pollIntervalMs ?? 250;
    const deadline = Date.now() + timeoutMs;
    let last: Run | undefined;
    const timedOut = () =>
      new TetherError(CLIENT_ERROR_CODES.timeout, `run ${id} was not final after ${timeoutMs} ms`, { ...(last ? { body: last } : {}) });
    let networkFailures = 0;
    for (;;) {
      opts.signal?.throwIfAborted();
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw timedOut();
      const waitMs = Math.min(MAX_WAIT_SECONDS * 1000, Math.floor(remaining));
      // A poll may overrun the deadline by a second (the server's answer to a wait that ends with it), not forever.
      const limit = Number.isFinite(remaining) ? AbortSignal.timeout(remaining + 1000) : undefined;
      const signal = limit && opts.signal ? AbortSignal.any([limit, opts.signal]) : (limit ?? opts.signal);
      const asked = Date.now();
      try {
        last = await this.get(id, { waitSeconds: waitMs / 1000, ...(signal ? { signal } : {}) });
        networkFailures = 0;
      } catch (e) {
        if (limit?.aborted && !opts.signal?.aborted) throw timedOut();
        if (!isNetworkError(e)) throw e;
        networkFailures++;
      }
      if (last && networkFailures === 0 && isFinalRunStatus(last.status)) return last;
      // Answered well before the wait was over, and not final: a server that ignores `wait`. Pause, do not spin.
      const early = Date.now() - asked + EARLY_SLACK_MS < waitMs;
      const pause = networkFailures > 0 ? Math.min(5000, pollMs * 2 ** networkFailures) : early ? pollMs : 0;
      if (pause > 0) await sleep(Math.max(0, Math.min(pause, deadline - Date.now())), opts.signal);
    }
  }

  /**
   * The run's live stream (`/api/stream?runId=`): a `snapshot` on every (re)connection, then `run.updated` and
   * `run.event`; reconnects with backoff when the socket drops; ends once the run is final.
   */
  watch(id: string, opts: WatchOptions = {}): AsyncGenerator<WatchMessage, void, undefined> {
    return watchRun(this.t.streamContext(), id, opts);
  }
}
