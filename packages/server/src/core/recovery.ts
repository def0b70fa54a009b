/** What a restart records on each open run (its `server.recovered` entry), pure. */
import type { OutboxEntry, RunDoc } from '../store/types.ts';
import { resendable } from './outbox.ts';

/** What a restart found for one run; its entry is written from this when it is committed. */
export interface RecoveryMarker {
  /** Restart time: "ms left" and "overdue" are counted from here. */
  at: number;
  timers: RunDoc['timers'];
  attempt: number | undefined;
}

/** The outbox entries a restart re-sends (open attempt, its timer not yet due at the restart) and those it does not. */
export function recoveredOutbox(doc: Pick<RunDoc, 'snapshot' | 'timers' | 'outbox'>, at: number): { resend: OutboxEntry[]; dropped: OutboxEntry[] } {
  const resend = doc.outbox.filter((o) => resendable(doc, o, at));
  return { resend, dropped: doc.outbox.filter((o) => !resend.includes(o)) };
}

export function recoveryDetail(
  m: RecoveryMarker,
  resend: readonly Pick<OutboxEntry, 'id' | 'number'>[],
  dropped: readonly Pick<OutboxEntry, 'number'>[],
): string {
  const parts: string[] = [];
  for (const t of m.timers) {
    const left = t.dueAt - m.at;
    const what = t.key.includes('retryBackoff') ? `backoff timer before attempt ${(m.attempt ?? 0) + 1}` : `attempt ${m.attempt ?? '?'} timer`;
    parts.push(left >= 0 ? `${what} re-armed with ${left} ms left` : `${what} overdue by ${-left} ms; fired at once`);
  }
  for (const o of resend) parts.push(`trigger for attempt ${o.number} re-sent (Idempotency-Key ${o.id})`);
  for (const o of dropped) parts.push(`trigger for attempt ${o.number} not re-sent: the attempt is over or its timer was overdue`);
  return parts.length ? `Server restarted; ${parts.join('; ')}.` : 'Server restarted; nothing pending.';
}
