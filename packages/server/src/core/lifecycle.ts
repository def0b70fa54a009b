/**
 * What a commit means for the people and systems watching runs, pure: the lifecycle events an operator's log and
 * metrics count (run created, attempt triggered, trigger failed, callback accepted or refused, attempt ended, retry
 * scheduled, run finished). Derived from the run before and after the commit and the commit's log entry, so the
 * engine has one place that says it and the log line and the counters can never disagree.
 */
import { isFinalRunStatus, type RunEventEntry, type RunSummary } from '@tether/machine';
import type { RunDoc } from '../store/types.ts';

export type LifecycleKind =
  | 'run.created'
  | 'attempt.triggered'
  | 'trigger.failed'
  | 'callback.accepted'
  | 'callback.refused'
  | 'attempt.ended'
  | 'retry.scheduled'
  | 'run.finished';

export interface LifecycleEvent {
  kind: LifecycleKind;
  runId: string;
  attemptId?: string;
  attempt: number;
  /** Run status after the commit, or the attempt's end state for attempt.ended. */
  state: string;
  verdict?: string;
  /** retry.scheduled: when the next attempt starts (ISO). */
  dueAt?: string;
}

const attemptsOf = (doc: RunDoc | null) => doc?.snapshot.context.attempts ?? [];

/** `prevStatus`: the run's status before the commit (null for a new run). */
export function lifecycleOf(
  prev: RunDoc | null,
  prevStatus: string | null,
  doc: RunDoc,
  summary: RunSummary,
  entry: RunEventEntry,
): LifecycleEvent[] {
  const out: LifecycleEvent[] = [];
  const base = { runId: doc.id, attempt: summary.attempt };
  if (prevStatus === null) out.push({ ...base, kind: 'run.created', state: summary.status });
  // Attempts that ended in this commit (their state left Triggering/AwaitingCallback), with the state they ended in.
  const before = new Map(attemptsOf(prev).map((a) => [a.id, a.state]));
  for (const a of attemptsOf(doc)) {
    const was = before.get(a.id);
    if (a.state === was) continue;
    if (a.state === 'AwaitingCallback' && was === 'Triggering')
      out.push({ ...base, kind: 'attempt.triggered', attemptId: a.id, attempt: a.number, state: a.state });
    else if (a.state !== 'Triggering' && a.state !== 'AwaitingCallback')
      out.push({
        ...base,
        kind: a.state === 'TriggerFailed' ? 'trigger.failed' : 'attempt.ended',
        attemptId: a.id,
        attempt: a.number,
        state: a.state,
      });
  }
  if (entry.type === 'callback.received')
    out.push({
      ...base,
      kind: entry.verdict === 'applied' ? 'callback.accepted' : 'callback.refused',
      ...(entry.attemptId ? { attemptId: entry.attemptId } : {}),
      state: summary.status,
      verdict: entry.verdict,
    });
  if (summary.state === 'retrying' && prev && JSON.stringify(prev.snapshot.value) !== JSON.stringify(doc.snapshot.value) && summary.nextDueAt)
    out.push({ ...base, kind: 'retry.scheduled', state: summary.status, dueAt: summary.nextDueAt });
  if (isFinalRunStatus(summary.status) && (prevStatus === null || !isFinalRunStatus(prevStatus)))
    out.push({ ...base, kind: 'run.finished', state: summary.status });
  return out;
}
