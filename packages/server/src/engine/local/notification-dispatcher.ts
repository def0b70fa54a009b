/**
 * Delivers completion webhooks (`run.finished`) from this process: one timer per run whose delivery is pending, at its
 * due time; a try is an HTTP POST outside the run's lock (a slow receiver never holds up the run or anything else), its
 * outcome handed to the engine to record. At least once: the same body id and `Idempotency-Key: <runId>.finished` on
 * every try and after a crash; signed like Stripe's webhooks (`Tether-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>">`).
 */
import type { Run } from '@tether/machine';
import type { RunFinishedNotification } from '@tether/machine/protocol';
import type { Clock } from '../clock.ts';
import type { Signer } from '../signer.ts';
import type { RunDoc } from '../../store/types.ts';
import { notificationIdempotencyKey, type DeliveryOutcome } from '../../core/notify.ts';
import { networkCode, type HttpClient } from '../http-client.ts';

export interface NotificationDispatcherOptions {
  clock: Clock;
  signer: Signer;
  http: HttpClient;
  /** A try that has no answer after this is cut and counted as failed. */
  timeoutMs: number;
  /** The committed document now (null: gone), read for each try. */
  load(runId: string): Promise<RunDoc | null>;
  view(doc: RunDoc): Run;
  /** Records a try's outcome (under the run's lock); the engine schedules what follows from the commit. */
  record(runId: string, attempts: number, outcome: DeliveryOutcome): Promise<void>;
  log: { warn(obj: object, msg?: string): void };
}

export class NotificationDispatcher {
  private readonly timers = new Map<string, { at: number; handle: unknown }>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly after = new Map<string, number>();
  private stopped = false;
  /** Aborts every try in flight at stop(): they stay pending in the store and are tried again by the next start. */
  private readonly stopping = new AbortController();

  constructor(private readonly o: NotificationDispatcherOptions) {}

  get pending(): number {
    return this.timers.size + this.inFlight.size;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  settling(): Promise<void>[] {
    return [...this.inFlight.values()];
  }

  /** Makes sure a try of `runId` happens at `at` (or now, if that has passed); an earlier schedule stands. */
  schedule(runId: string, at: number): void {
    if (this.stopped) return;
    if (this.inFlight.has(runId)) {
      // Scheduled by the commit of the try in flight (its next try): taken up once that try has settled.
      this.after.set(runId, Math.min(at, this.after.get(runId) ?? at));
      return;
    }
    const had = this.timers.get(runId);
    if (had && had.at <= at) return;
    if (had) this.o.clock.clearTimer(had.handle);
    const handle = this.o.clock.setTimer(() => this.fire(runId), Math.max(0, at - this.o.clock.now()));
    this.timers.set(runId, { at, handle });
  }

  private fire(runId: string): void {
    this.timers.delete(runId);
    if (this.stopped || this.inFlight.has(runId)) return;
    const p = this.tryOnce(runId)
      .catch((e: unknown) => this.o.log.warn({ runId, err: (e as Error).message }, 'completion webhook: could not record a try; retrying in 5 s'))
      .finally(() => {
        this.inFlight.delete(runId);
        const next = this.after.get(runId);
        this.after.delete(runId);
        if (next !== undefined) this.schedule(runId, next);
      });
    this.inFlight.set(runId, p);
  }

  private async tryOnce(runId: string): Promise<void> {
    const doc = await this.o.load(runId);
    const n = doc?.notification;
    const url = doc?.snapshot.context.config.notify?.url;
    if (!doc || !n || n.state !== 'pending' || !url) return;
    if (n.nextAt !== null && n.nextAt > this.o.clock.now()) {
      this.after.set(runId, n.nextAt);
      return;
    }
    const payload: RunFinishedNotification = { type: 'run.finished', id: n.id, run: this.o.view(doc) };
    const body = JSON.stringify(payload);
    const t = Math.floor(this.o.clock.now() / 1000);
    const headers = {
      ...doc.snapshot.context.config.notify?.headers,
      'content-type': 'application/json',
      'idempotency-key': notificationIdempotencyKey(runId),
      'tether-signature': `t=${t},v1=${this.o.signer.hmacHex(`${t}.${body}`)}`,
    };
    const started = performance.now();
    const outcome = await post(this.o.http, url, headers, body, this.o.timeoutMs, this.stopping.signal).then((r) => ({
      ...r,
      ms: Math.round(performance.now() - started),
    }));
    if (this.stopped) return;
    await this.o.record(runId, n.attempts, outcome as DeliveryOutcome).catch((e: unknown) => {
      // Not recorded (the store is failing): the delivery is still pending in the store; try the whole thing again.
      if (!this.stopped) this.o.clock.setTimer(() => this.schedule(runId, this.o.clock.now()), 5000);
      throw e;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    for (const { handle } of this.timers.values()) this.o.clock.clearTimer(handle);
    this.timers.clear();
    await Promise.all(this.inFlight.values());
  }
}

async function post(
  http: HttpClient,
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  stop: AbortSignal,
): Promise<{ ok: true; status: number } | { ok: false; status: number | null; error: string }> {
  const r = await http.post(url, { method: 'POST', headers, body }, timeoutMs, stop);
  if (!r.ok) {
    return {
      ok: false,
      status: null,
      error: r.timedOut ? `no answer within ${timeoutMs / 1000} s` : (networkCode(r.error) ?? (r.error as Error)?.message ?? String(r.error)),
    };
  }
  if (r.status >= 200 && r.status < 300) return { ok: true, status: r.status };
  return { ok: false, status: r.status, error: `HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}` };
}
