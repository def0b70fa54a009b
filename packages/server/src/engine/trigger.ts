/**
 * Sends one trigger request. Only a 2xx counts as triggered (the seed counted a 500 as success); anything else is a
 * failure with a message that says what happened: the status and a short body excerpt, or the network error.
 */
import type { TriggerBody } from '@tether/machine/protocol';

export interface TriggerRequest {
  url: string;
  method: 'POST' | 'PUT';
  headers: Record<string, string>;
  timeoutMs: number;
  signal: AbortSignal;
  idempotencyKey: string;
  /** The wire contract's trigger body (@tether/machine/protocol). */
  body: TriggerBody;
}

export type TriggerOutcome = { ok: true; status: number; detail: string } | { ok: false; message: string; detail: string };

const EXCERPT = 200;

function networkMessage(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return `no response within ${timeoutMs / 1000} s`;
  const code = err?.cause?.code;
  const msg = err?.cause?.message ?? err?.message ?? String(e);
  return code ? `${code}: ${msg}` : msg;
}

/** The most of an answer's body read (only an excerpt is kept): a target streaming gigabytes costs this, then the cut. */
const MAX_ANSWER_BYTES = 64 * 1024;

async function readCapped(res: Response, cap: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size >= cap) {
      await reader.cancel().catch(() => {});
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, cap).toString('utf8');
}

/** A POST's answer (its status and body text), or why there was none; `timedOut` when `timeoutMs` cut it. */
export type PostResult = { ok: true; res: Response; text: string } | { ok: false; timedOut: boolean; error: unknown };

/**
 * One POST, cut after `timeoutMs` or when `signal` aborts; never redirected. Shared by triggers and completion webhooks.
 * A controller held here and a plain timer, not AbortSignal.any([signal, AbortSignal.timeout(ms)]): Node's timeout
 * signal is held only weakly by its timer, and a composite collected mid-request would never abort fetch: a target
 * that never answers would hold its attempt forever. (The suspected cause of a rare hang of the trigger-timeout test
 * under load; here every reference is strong, and the timer is cleared when the request ends.)
 */
export async function timedPost(
  fetchImpl: typeof fetch,
  url: string,
  req: { method: string; headers: Record<string, string>; body: string },
  timeoutMs: number,
  signal: AbortSignal,
): Promise<PostResult> {
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
    const res = await fetchImpl(url, { ...req, signal: ac.signal, redirect: 'manual' });
    let text = '';
    try {
      text = await readCapped(res, MAX_ANSWER_BYTES);
    } catch {
      /* body unreadable: the status still decides */
    }
    return { ok: true, res, text };
  } catch (error) {
    return { ok: false, timedOut: timedOut || (error as { name?: string })?.name === 'TimeoutError', error };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

export async function sendTrigger(fetchImpl: typeof fetch, req: TriggerRequest): Promise<TriggerOutcome> {
  const target = `${req.method} ${req.url}`;
  const r = await timedPost(
    fetchImpl,
    req.url,
    {
      method: req.method,
      headers: { ...req.headers, 'content-type': 'application/json', 'idempotency-key': req.idempotencyKey },
      body: JSON.stringify(req.body),
    },
    req.timeoutMs,
    req.signal,
  );
  if (!r.ok) {
    const message = r.timedOut ? `no response within ${req.timeoutMs / 1000} s` : networkMessage(r.error, req.timeoutMs);
    return { ok: false, message, detail: `${target} → ${message}` };
  }
  const { res, text } = r;
  const excerpt = text.length > EXCERPT ? `${text.slice(0, EXCERPT)}…` : text;
  if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, detail: `${target} → ${res.status}` };
  const message = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${excerpt ? `: ${excerpt}` : ''}`;
  return { ok: false, message, detail: `${target} → ${message}` };
}
