import { useState } from 'react';
import type { Run } from '@tether/machine/protocol';
import { isOpenAttemptState } from '@tether/machine/protocol';
import { CopyButton } from '../../../components/CopyButton.tsx';
import { completeAttempt, sendAsExternalSystem, tamperSignature, timeoutAttempt, type CallbackAnswer } from '../api/runApi.ts';
import { useAction } from '../hooks/useAction.ts';

const shellQuote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

export function curlFor(url: string, body: unknown): string {
  return `curl -sS -X POST ${shellQuote(url)} \\\n  -H 'content-type: application/json' \\\n  -d ${shellQuote(JSON.stringify(body))}`;
}

/**
 * Settle the current attempt from here: as an operator (recorded with source `operator`), or as the external system
 * through the attempt's signed callback URL — including the cases the callback lane exists for (a forged signature,
 * a late callback to an earlier attempt).
 */
export function CallbackConsole({ run, onRun }: { run: Run; onRun: (run: Run) => void }) {
  const action = useAction();
  const [message, setMessage] = useState('');
  const [answer, setAnswer] = useState<{ what: string; answer: CallbackAnswer } | null>(null);
  const current = run.attempts[run.attempts.length - 1];
  const previous = run.attempts.length > 1 ? run.attempts[run.attempts.length - 2] : undefined;

  if (!current) return <p className="muted">No attempt yet: the console opens with the first attempt.</p>;
  const open = run.status === 'running' && isOpenAttemptState(current.state);
  const body = (success: boolean) => (message.trim() ? { success, message: message.trim() } : { success });
  const send = (what: string, url: string, payload: unknown) =>
    void action.run(what, async () => {
      setAnswer({ what, answer: await sendAsExternalSystem(url, payload) });
    });

  return (
    <div className="callback-console">
      <p className="small">
        Attempt <strong className="num">#{current.number}</strong> <span className="mono small">{current.id}</span> —{' '}
        {open ? 'waiting for its callback.' : `not waiting (${current.state}); a callback now is answered 410 late.`}
      </p>

      <div className="field">
        <label htmlFor="console-message">Message sent with the callback (optional)</label>
        <input id="console-message" type="text" value={message} onChange={(e) => setMessage(e.target.value)} placeholder="e.g. Export finished" />
      </div>

      <h3>As an operator</h3>
      <div className="row-gap" role="group" aria-label="Operator actions">
        <button
          type="button"
          className="btn btn-success"
          disabled={!open || action.pending !== null}
          onClick={() => void action.run('Complete as success', async () => onRun(await completeAttempt(run.id, current.id, body(true))))}
        >
          Complete as success
        </button>
        <button
          type="button"
          className="btn btn-danger"
          disabled={!open || action.pending !== null}
          onClick={() => void action.run('Complete as failure', async () => onRun(await completeAttempt(run.id, current.id, body(false))))}
        >
          Complete as failure
        </button>
        <button
          type="button"
          className="btn"
          disabled={!open || action.pending !== null}
          onClick={() => void action.run('Force timeout', async () => onRun(await timeoutAttempt(run.id, current.id)))}
        >
          Force timeout
        </button>
      </div>

      <h3>As the external system</h3>
      {current.callbackUrl ? (
        <>
          <div className="row-gap" role="group" aria-label="Send callbacks through the signed URL">
            <button
              type="button"
              className="btn"
              disabled={action.pending !== null}
              onClick={() => send('POST success', current.callbackUrl!, body(true))}
            >
              POST success
            </button>
            <button
              type="button"
              className="btn"
              disabled={action.pending !== null}
              onClick={() => send('POST failure', current.callbackUrl!, body(false))}
            >
              POST failure
            </button>
            <button
              type="button"
              className="btn"
              disabled={action.pending !== null}
              onClick={() => send('POST with a bad signature', tamperSignature(current.callbackUrl!), body(true))}
            >
              Bad signature
            </button>
            {previous?.callbackUrl ? (
              <button
                type="button"
                className="btn"
                disabled={action.pending !== null}
                onClick={() => send(`POST to attempt #${previous.number} (late)`, previous.callbackUrl!, body(true))}
              >
                Late, to attempt #{previous.number}
              </button>
            ) : null}
          </div>
          <div className="curl">
            <div className="curl-head">
              <span className="small muted">Signed callback for attempt #{current.number}, as the external system sends it:</span>
              <CopyButton text={curlFor(current.callbackUrl, body(true))} label={`Copy curl command for attempt ${current.number}'s callback`} />
            </div>
            <pre className="mono small" data-testid="callback-curl">
              {curlFor(current.callbackUrl, body(true))}
            </pre>
            {current.heartbeatUrl ? (
              <>
                <div className="curl-head">
                  <span className="small muted">Heartbeat:</span>
                  <CopyButton
                    text={curlFor(current.heartbeatUrl, { progress: { percent: 50 } })}
                    label={`Copy curl command for attempt ${current.number}'s heartbeat`}
                  />
                </div>
                <pre className="mono small">{curlFor(current.heartbeatUrl, { progress: { percent: 50 } })}</pre>
              </>
            ) : null}
          </div>
        </>
      ) : (
        <p className="muted small">This attempt has no callback URL (the server did not sign one).</p>
      )}

      <div aria-live="polite">
        {answer ? (
          <p className="console-answer small" data-status={answer.answer.status}>
            {answer.what}: <strong className="num">HTTP {answer.answer.status}</strong>{' '}
            <code>{typeof answer.answer.body === 'string' ? answer.answer.body : JSON.stringify(answer.answer.body)}</code>
          </p>
        ) : null}
        {action.error ? (
          <p className="error-inline" role="alert">
            {action.error}
          </p>
        ) : null}
      </div>
    </div>
  );
}
