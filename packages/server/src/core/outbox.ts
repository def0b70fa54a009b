/**
 * The outbox rule, pure: an outbox entry lives exactly as long as its attempt is open. The commit that ends the attempt
 * (timeout, callback, operator, cancel) drops it, so no restart can ever re-send the trigger of an attempt that is over.
 */
import { isFinalRunStatus, isOpenAttemptState, toRunSummary } from '@tether/machine';
import type { OutboxEntry, PersistedRunSnapshot, RunDoc } from '../store/types.ts';

/** The entries whose attempt is still open: the run's current attempt, Triggering or AwaitingCallback. */
export function liveOutbox(snapshot: PersistedRunSnapshot, outbox: readonly OutboxEntry[]): OutboxEntry[] {
  if (!outbox.length) return outbox as OutboxEntry[];
  const attempts = snapshot.context.attempts;
  const current = attempts[attempts.length - 1];
  const open = current && isOpenAttemptState(current.state) && !isFinalRunStatus(toRunSummary(snapshot).status) ? current.id : null;
  const kept = outbox.filter((o) => o.attemptId === open);
  return kept.length === outbox.length ? (outbox as OutboxEntry[]) : kept;
}

/**
 * Whether recovery may re-send `o`: its attempt is open and no committed timer of the run is due by `at` (the restart).
 * An overdue timer is the attempt's own (an attempt has one timer at a time; a backoff timer means no attempt is open),
 * and it ends the attempt when it fires — at once, on resume — so sending first would trigger an attempt that is over.
 */
export function resendable(doc: Pick<RunDoc, 'snapshot' | 'timers'>, o: OutboxEntry, at: number): boolean {
  return liveOutbox(doc.snapshot, [o]).length === 1 && !doc.timers.some((t) => t.dueAt <= at);
}
