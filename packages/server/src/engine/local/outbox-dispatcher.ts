/** Today's OutboxDispatcher: trigger requests from this process (undici, keep-alive per origin), one AbortController per request in flight. */
import type { OutboxDispatcher } from '../ports.ts';
import type { OutboxEntry, RunDoc } from '../../store/types.ts';
import type { Signer } from '../signer.ts';
import type { HttpClient } from '../http-client.ts';
import { sendTrigger, type TriggerOutcome } from '../trigger.ts';

export class LocalOutboxDispatcher implements OutboxDispatcher {
  private readonly inflight = new Map<string, AbortController>();
  private readonly runOf = new Map<string, string>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly http: HttpClient,
    private readonly signer: Signer,
  ) {}

  get inFlight(): number {
    return this.inflight.size;
  }

  send(doc: RunDoc, o: OutboxEntry, onOutcome: (outcome: TriggerOutcome) => Promise<void>): void {
    if (this.inflight.has(o.id)) return;
    const ac = new AbortController();
    this.inflight.set(o.id, ac);
    const runId = doc.id;
    this.runOf.set(o.id, runId);
    const config = doc.snapshot.context.config;
    const pending: Promise<void> = sendTrigger(this.http, {
      url: config.target.url,
      method: config.target.method,
      headers: config.target.headers ?? {},
      timeoutMs: Math.round(config.triggerTimeoutSeconds * 1000),
      signal: ac.signal,
      idempotencyKey: o.attemptId,
      body: {
        runId,
        attemptId: o.attemptId,
        attempt: o.number,
        callbackUrl: this.signer.callbackUrl(runId, o.attemptId),
        heartbeatUrl: this.signer.heartbeatUrl(runId, o.attemptId),
        payload: config.payload ?? null,
      },
    })
      .then(onOutcome)
      .finally(() => {
        this.inflight.delete(o.id);
        this.runOf.delete(o.id);
        this.pending.delete(pending);
      });
    this.pending.add(pending);
  }

  abort(entryId: string, reason: string): void {
    this.inflight.get(entryId)?.abort(new Error(reason));
  }

  abortAll(reason: string): void {
    for (const ac of this.inflight.values()) ac.abort(new Error(reason));
  }

  inFlightEntries(): { runId: string; id: string }[] {
    return [...this.runOf].map(([id, runId]) => ({ runId, id }));
  }

  settling(): Promise<unknown>[] {
    return [...this.pending];
  }
}
