import { useState } from 'react';
import { isFailedAttemptState, type Run, type RunEventEntry } from '@tether/machine/protocol';
import { RunStatusBadge } from '../../../components/Badge.tsx';
import { Countdown } from '../../../components/Countdown.tsx';
import { Time } from '../../../components/Time.tsx';
import { downloadJson } from '../../../lib/download.ts';
import { Link, navigate } from '../../../lib/router.tsx';
import { formatDuration, localizeInstants } from '../../../lib/time.ts';
import { stateLabel } from '../../../lib/tones.ts';
import { cancelRun, rerun, retryNow } from '../api/runApi.ts';
import { useAction } from '../hooks/useAction.ts';

export interface RunHeaderProps {
  run: Run;
  events: readonly RunEventEntry[];
  now: number;
  onRun: (run: Run) => void;
}

export function RunHeader({ run, events, now, onRun }: RunHeaderProps) {
  const action = useAction();
  const [panel, setPanel] = useState<'none' | 'cancel' | 'rerun'>('none');
  const [reason, setReason] = useState('');
  const [payload, setPayload] = useState(() => (run.config.payload === undefined ? '' : JSON.stringify(run.config.payload, null, 2)));
  const [payloadError, setPayloadError] = useState<string | null>(null);

  const final = run.status !== 'running';
  const inBackoff = run.state === 'retrying' && !final;
  // Attempts not started yet, said against the total so "2" never reads as "2 in all".
  const left = Math.max(0, run.maxAttempts - run.attempt);
  const created = Date.parse(run.createdAt);
  // Temporal's pending-activity card, in short: the last failure and the last heartbeat, not only the current state.
  const lastFailure = [...run.attempts].reverse().find((a) => isFailedAttemptState(a.state));
  const current = run.attempts[run.attempts.length - 1];
  const end = run.finishedAt ? Date.parse(run.finishedAt) : now;

  const doRerun = () => {
    let body: unknown = undefined;
    if (payload.trim()) {
      try {
        body = JSON.parse(payload);
      } catch (e) {
        setPayloadError(`payload is not valid JSON: ${(e as Error).message}`);
        return;
      }
    }
    setPayloadError(null);
    void action.run('Rerun', async () => {
      const next = await rerun(run.id, body);
      navigate(`/runs/${next.id}`);
    });
  };

  return (
    <header className="run-header">
      <div className="run-title">
        <p className="crumbs small">
          <Link to="/">Runs</Link> <span aria-hidden="true">/</span> <span className="mono">{run.id}</span>
        </p>
        <h1 id="run-title">
          {run.name || <span className="muted">(unnamed run)</span>} <RunStatusBadge status={run.status} />
        </h1>
        <p className="overall" data-testid="overall-state">
          {localizeInstants(run.overallState, now)}
        </p>
        {run.rerunOf ? (
          <p className="small muted">
            Re-run of <Link to={`/runs/${run.rerunOf}`}>{run.rerunOf}</Link>
          </p>
        ) : null}
      </div>

      <dl className="run-facts">
        <div>
          <dt>State</dt>
          <dd>
            <span className="mono">{run.state}</span> <span className="muted small">({stateLabel[run.state] ?? run.state})</span>
          </dd>
        </div>
        <div>
          <dt>Attempt</dt>
          <dd className="num" data-testid="attempt-fact">
            {run.attempt} of {run.maxAttempts}
            {final ? null : (
              <span className="muted small">
                {' '}
                · {left} {left === 1 ? 'attempt' : 'attempts'} left of {run.maxAttempts}
              </span>
            )}
          </dd>
        </div>
        <div>
          <dt>Next deadline</dt>
          <dd className="fact-fixed">
            {run.nextDueAt ? (
              <>
                <Countdown to={Date.parse(run.nextDueAt)} now={now} label="Next deadline" />
                <span className="fact-sub small muted">
                  <Time at={Date.parse(run.nextDueAt)} now={now} />
                </span>
              </>
            ) : (
              <span className="muted">none</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <Time at={created} now={now} ago />
          </dd>
        </div>
        <div>
          <dt>{run.finishedAt ? 'Took' : 'Running for'}</dt>
          <dd className="num fact-fixed">{formatDuration(end - created)}</dd>
        </div>
      </dl>

      {lastFailure || current?.lastHeartbeatAt ? (
        <ul className="run-notes small">
          {lastFailure ? (
            <li data-testid="last-failure">
              <strong>Last failure</strong> (attempt #{lastFailure.number}, {lastFailure.state}): {localizeInstants(lastFailure.message, now)}
            </li>
          ) : null}
          {current?.lastHeartbeatAt ? (
            <li>
              <strong>Last heartbeat</strong> <Time at={Date.parse(current.lastHeartbeatAt)} now={now} ago />
              {current.progress !== undefined ? <code> {JSON.stringify(current.progress)}</code> : null}
            </li>
          ) : null}
        </ul>
      ) : null}

      <div className="run-actions" role="toolbar" aria-label="Run actions">
        <button
          type="button"
          className="btn btn-danger"
          disabled={final || action.pending !== null}
          onClick={() => setPanel(panel === 'cancel' ? 'none' : 'cancel')}
          aria-expanded={panel === 'cancel'}
        >
          Cancel run…
        </button>
        <button
          type="button"
          className="btn"
          disabled={!inBackoff || action.pending !== null}
          title={inBackoff ? 'Start the next attempt now instead of waiting out the backoff' : 'Only while the run waits out a backoff'}
          onClick={() => void action.run('Retry now', async () => onRun(await retryNow(run.id)))}
        >
          {action.pending === 'Retry now' ? 'Retrying…' : 'Retry now'}
        </button>
        <button
          type="button"
          className="btn"
          disabled={action.pending !== null}
          onClick={() => setPanel(panel === 'rerun' ? 'none' : 'rerun')}
          aria-expanded={panel === 'rerun'}
        >
          Rerun…
        </button>
        <button
          type="button"
          className="btn"
          onClick={() => downloadJson(`${run.id}.json`, { exportedAt: new Date(now).toISOString(), run, events })}
        >
          Export JSON
        </button>
      </div>

      {panel === 'cancel' ? (
        <form
          className="inline-panel"
          aria-label="Cancel the run"
          onSubmit={(e) => {
            e.preventDefault();
            void action.run('Cancel', async () => {
              onRun(await cancelRun(run.id, reason.trim() || undefined));
              setPanel('none');
            });
          }}
        >
          <label htmlFor="cancel-reason">Reason (optional, recorded on the run)</label>
          <input id="cancel-reason" type="text" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="e.g. wrong customer" />
          <div className="row-gap">
            <button type="submit" className="btn btn-danger" disabled={action.pending !== null}>
              {action.pending === 'Cancel' ? 'Cancelling…' : 'Cancel run'}
            </button>
            <button type="button" className="btn btn-link" onClick={() => setPanel('none')}>
              Keep it running
            </button>
          </div>
        </form>
      ) : null}

      {panel === 'rerun' ? (
        <form
          className="inline-panel"
          aria-label="Rerun with the same configuration"
          onSubmit={(e) => {
            e.preventDefault();
            doRerun();
          }}
        >
          <label htmlFor="rerun-payload">Payload for the new run (JSON; edit to change it)</label>
          <textarea
            id="rerun-payload"
            className="mono"
            rows={6}
            spellCheck={false}
            value={payload}
            aria-invalid={payloadError ? true : undefined}
            aria-describedby={payloadError ? 'rerun-payload-error' : undefined}
            onChange={(e) => {
              setPayload(e.target.value);
              setPayloadError(null);
            }}
          />
          {payloadError ? (
            <p className="field-error" id="rerun-payload-error">
              {payloadError}
            </p>
          ) : null}
          <div className="row-gap">
            <button type="submit" className="btn btn-primary" disabled={action.pending !== null}>
              {action.pending === 'Rerun' ? 'Starting…' : 'Start new run'}
            </button>
            <button type="button" className="btn btn-link" onClick={() => setPanel('none')}>
              Close
            </button>
          </div>
        </form>
      ) : null}

      {action.error ? (
        <p className="error-inline" role="alert">
          {action.error}
        </p>
      ) : null}
    </header>
  );
}
