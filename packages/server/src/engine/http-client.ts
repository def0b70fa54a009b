/**
 * The engine's outbound HTTP: trigger requests and completion webhooks. An undici Agent (one keep-alive pool per
 * origin) and its `request()`, not the global `fetch`: fetch builds a WHATWG Request, Response, Headers and a web
 * stream for every call, which is most of a launch's client-side cost (B8's profile: fetch was the largest single
 * item of a launch). Sockets to a target are reused across runs; `close()` ends them with the engine.
 */
import { STATUS_CODES } from 'node:http';
import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, Dispatcher } from 'undici';

// Only undici's Agent and its request(): the package's index also loads fetch, WebSocket, the caches, mocks… which
// cost ~110 ms of every start-up (B5) against ~30 ms for these two modules. `request` is what the index mixes into
// Dispatcher.prototype; here it is called with the agent as `this`.
const requireFromHere = createRequire(import.meta.url);
const Agent = requireFromHere('undici/lib/dispatcher/agent.js') as typeof UndiciAgent;
const request = requireFromHere('undici/lib/api/api-request.js') as (
  this: Dispatcher,
  o: Dispatcher.RequestOptions,
) => Promise<Dispatcher.ResponseData>;

/** What a POST produced: the answer (status, reason phrase, the start of the body) or why there was none. */
export type PostResult = { ok: true; status: number; statusText: string; text: string } | { ok: false; timedOut: boolean; error: unknown };

export interface PostRequest {
  method: string;
  headers: Record<string, string>;
  body: string;
}

export interface HttpClient {
  /** One request, cut after `timeoutMs` or when `signal` aborts; never redirected. */
  post(url: string, req: PostRequest, timeoutMs: number, signal: AbortSignal): Promise<PostResult>;
  close(): Promise<void>;
}

/** The most of an answer's body read (only an excerpt is kept): a target streaming gigabytes costs this, then the cut. */
const MAX_ANSWER_BYTES = 64 * 1024;

async function readCapped(body: Dispatcher.ResponseData['body'], cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    chunks.push(b);
    size += b.byteLength;
    if (size >= cap) break; // leaving the loop destroys the body: the socket is closed, not reused
  }
  return Buffer.concat(chunks).subarray(0, cap).toString('utf8');
}

export class UndiciHttpClient implements HttpClient {
  private readonly agent = new Agent({
    // The request's own timer below decides; undici's 300 s defaults would cut a long trigger timeout short.
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: 10_000,
  });

  /**
   * A controller held here and a plain timer, not AbortSignal.any([signal, AbortSignal.timeout(ms)]): Node's timeout
   * signal is held only weakly by its timer, and a composite collected mid-request would never abort the request: a
   * target that never answers would hold its attempt forever. Every reference here is strong, and the timer is
   * cleared when the request ends.
   */
  async post(url: string, req: PostRequest, timeoutMs: number, signal: AbortSignal): Promise<PostResult> {
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new DOMException(`no response within ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    try {
      const u = new URL(url);
      const res = await request.call(this.agent, {
        origin: u.origin,
        path: `${u.pathname}${u.search}`,
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: req.body,
        signal: ac.signal,
      });
      let text = '';
      try {
        text = await readCapped(res.body, MAX_ANSWER_BYTES);
      } catch {
        /* body unreadable: the status still decides */
      }
      // Node's reason phrases (what Fastify and most servers send): undici's request() does not expose the one received.
      return { ok: true, status: res.statusCode, statusText: STATUS_CODES[res.statusCode] ?? '', text };
    } catch (error) {
      return { ok: false, timedOut: timedOut || (error as { name?: string })?.name === 'TimeoutError', error };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

type NetworkError = { message?: string; code?: string; cause?: { code?: string; message?: string } } | undefined;

/** A network error's code (`ECONNREFUSED`, `UND_ERR_SOCKET`): on the error from request(), on its cause from fetch. */
export const networkCode = (e: unknown): string | undefined => (e as NetworkError)?.cause?.code ?? (e as NetworkError)?.code;

/** A network error in a sentence: `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9`, or the error's own message. */
export function networkMessage(e: unknown): string {
  const err = e as NetworkError;
  const code = networkCode(e);
  const msg = err?.cause?.message ?? err?.message ?? String(e);
  return code ? `${code}: ${msg}` : msg;
}

/** Answers every request itself with `status`, no network: for tools that measure the engine alone (bench, scripts). */
export function answeringHttpClient(status = 202): HttpClient {
  return {
    post: () => Promise.resolve({ ok: true, status, statusText: STATUS_CODES[status] ?? '', text: '{}' }),
    close: () => Promise.resolve(),
  };
}
