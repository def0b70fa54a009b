import type { Attempt, Run, RunEventEntry } from '@tether/machine/protocol';
import { JsonBlock } from '../../../components/JsonBlock.tsx';
import { Time } from '../../../components/Time.tsx';
import { eventName } from '../../../lib/event-names.ts';
import { localizeInstants } from '../../../lib/time.ts';

export interface RunResult {
  status: Run['status'];
  /** The attempt that settled the run (the accepted one, or the last). */
  attempt: Attempt | null;
  /** The applied log entry that made the run final. */
  entry: RunEventEntry | null;
  /** Why it failed or was cancelled, in words. */
  reason: string | null;
}

const FAILURE_WORDS: Record<string, (run: Run) => string> = {
  exhausted: (run) => `Every attempt was used: attempt ${run.attempts.length} of ${run.maxAttempts} was the last.`,
  notRetryable: () => 'A failure callback said not to retry (retryable: false).',
  deadline: () => 'The run deadline passed.',
};

const cancelReason = (entry: RunEventEntry | null): string | null => {
  const reason = (entry?.event as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' && reason ? reason : null;
};

/** What a run came to, read from the run and its log. */
export function runResult(run: Run, events: readonly RunEventEntry[]): RunResult {
  const last = run.attempts[run.attempts.length - 1] ?? null;
  if (run.status === 'running') return { status: run.status, attempt: null, entry: null, reason: null };
  const final = events.find((e) => e.verdict === 'applied' && e.stateAfter === run.state) ?? null;
  if (run.status === 'succeeded') {
    const attempt = run.attempts.find((a) => a.isSuccess) ?? last;
    const callback = [...events].reverse().find((e) => e.verdict === 'applied' && e.type === 'callback.received' && e.attemptId === attempt?.id);
    return { status: run.status, attempt, entry: callback ?? final, reason: null };
  }
  if (run.status === 'cancelled') {
    const reason = cancelReason(final);
    return { status: run.status, attempt: last, entry: final, reason: reason ? `Cancelled: ${reason}` : 'Cancelled (no reason given).' };
  }
  const words = run.failureReason ? FAILURE_WORDS[run.failureReason]?.(run) : undefined;
  return { status: run.status, attempt: last, entry: final, reason: words ?? 'Failed.' };
}

const SOURCE_WORDS: Record<string, string> = {
  callback: 'the external system’s callback',
  operator: 'an operator',
  timer: 'a timer',
  trigger: 'the trigger request',
  api: 'the API',
  server: 'the server',
};

/** The run's outcome: the accepted output and who settled it, or why it failed; nothing while it runs. */
export function ResultPanel({ run, events, now }: { run: Run; events: readonly RunEventEntry[]; now: number }) {
  const result = runResult(run, events);
  if (result.status === 'running')
    return <p className="muted">No result yet: the run is still {run.state === 'retrying' ? 'backing off' : 'running'}.</p>;
  const { attempt, entry } = result;
  const numberOf = (id: string | undefined) => run.attempts.find((a) => a.id === id)?.number ?? attempt?.number;
  return (
    <div className="result-panel" data-status={result.status}>
      <dl className="input-facts">
        <dt>Outcome</dt>
        <dd data-testid="result-outcome">
          {result.status === 'succeeded' ? `Succeeded on attempt ${attempt?.number ?? '?'} of ${run.maxAttempts}` : result.reason}
        </dd>
        {entry ? (
          <>
            <dt>Settled by</dt>
            <dd data-testid="result-settled-by" data-source={entry.source}>
              {SOURCE_WORDS[entry.source] ?? entry.source} ({eventName(entry.type, numberOf(entry.attemptId))}, event #{entry.seq} at{' '}
              <Time at={Date.parse(entry.at)} now={now} ms />)
            </dd>
          </>
        ) : null}
        {attempt ? (
          <>
            <dt>{result.status === 'succeeded' ? 'Message' : 'Last message'}</dt>
            <dd data-testid="result-message">{localizeInstants(attempt.message, now)}</dd>
          </>
        ) : null}
        {result.status === 'succeeded' ? (
          <>
            <dt>Output</dt>
            <dd>{attempt?.output === undefined ? <span className="muted">none sent</span> : <JsonBlock value={attempt.output} label="Output" />}</dd>
          </>
        ) : null}
      </dl>
    </div>
  );
}
