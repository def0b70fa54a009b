/**
 * Sends one trigger request. Only a 2xx counts as triggered (the seed counted a 500 as success); anything else is a
 * failure with a message that says what happened: the status and a short body excerpt, or the network error.
 */
import type { TriggerBody } from '@tether/machine/protocol';
import { networkMessage, type HttpClient } from './http-client.ts';

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

export async function sendTrigger(http: HttpClient, req: TriggerRequest): Promise<TriggerOutcome> {
  const target = `${req.method} ${req.url}`;
  const r = await http.post(
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
    const message = r.timedOut ? `no response within ${req.timeoutMs / 1000} s` : networkMessage(r.error);
    return { ok: false, message, detail: `${target} → ${message}` };
  }
  const { status, statusText, text } = r;
  const excerpt = text.length > EXCERPT ? `${text.slice(0, EXCERPT)}…` : text;
  if (status >= 200 && status < 300) return { ok: true, status, detail: `${target} → ${status}` };
  const message = `HTTP ${status}${statusText ? ` ${statusText}` : ''}${excerpt ? `: ${excerpt}` : ''}`;
  return { ok: false, message, detail: `${target} → ${message}` };
}
