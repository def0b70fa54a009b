import { useState } from 'react';
import { MAX_BULK_RUNS, type BulkResult } from '@tether/machine/protocol';
import type { ApiError } from '../../../lib/http.ts';
import { Link } from '../../../lib/router.tsx';
import { BULK_WORDS, describeDryRun, describeResult, outcomeLabel, plural } from '../hooks/bulkWords.ts';
import type { BulkFlow, BulkRequest, BulkStep } from '../hooks/useBulkAction.ts';
import { Modal } from './Modal.tsx';

const TITLE_ID = 'bulk-title';

/** The runs a dry run would not act on, each with why. */
function NotActedOn({ dry }: { dry: BulkResult }) {
  const left = dry.results.filter((r) => r.outcome === 'skipped' || r.outcome === 'failed');
  if (left.length === 0) return null;
  return (
    <ul className="bulk-list" aria-label="Skipped runs">
      {left.map((r) => (
        <li key={r.id}>
          <span className="mono">{r.id}</span> — {r.reason ?? r.code ?? r.outcome}
        </li>
      ))}
    </ul>
  );
}

function Results({ result }: { result: BulkResult }) {
  return (
    <>
      <p className="bulk-summary" role="status">
        {describeResult(result)}.
      </p>
      <div className="bulk-scroll">
        <table className="table table-compact" aria-label="Results">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Outcome</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {result.results.map((r) => (
              <tr key={r.id} data-outcome={r.outcome}>
                <td>
                  <Link to={`/runs/${r.id}`} className="mono">
                    {r.id}
                  </Link>
                </td>
                <td>{outcomeLabel(result.action, r.outcome)}</td>
                <td>
                  {r.newRunId ? (
                    <Link to={`/runs/${r.newRunId}`}>
                      New run <span className="mono">{r.newRunId}</span>
                    </Link>
                  ) : (
                    (r.reason ?? r.code ?? '')
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Failure({ error }: { error: ApiError }) {
  if (error.code === 'TETHER_BULK_TOO_MANY') {
    return (
      <div className="error-notice" role="alert">
        <p className="error-title">Too many runs for one bulk action</p>
        <p>
          A bulk action takes at most {MAX_BULK_RUNS.toLocaleString('en')} runs, and this filter matches more. Narrow the filter (status, name,
          created range) and try again.
        </p>
      </div>
    );
  }
  return (
    <div className="error-notice" role="alert">
      <p className="error-title">The bulk action failed</p>
      <p>{error.status === 0 ? error.message : `${error.message} (${error.status})`}</p>
    </div>
  );
}

interface BodyProps {
  request: BulkRequest;
  step: BulkStep;
  confirm: BulkFlow['confirm'];
  close: () => void;
  returnFocus: () => HTMLElement | null;
}

function Body({ request, step, confirm, close, returnFocus }: BodyProps) {
  const words = BULK_WORDS[request.action];
  const [reason, setReason] = useState('');
  const busy = step.step === 'checking' || step.step === 'running';
  const dry = step.step === 'confirm' || step.step === 'running' ? step.dry : null;

  return (
    <Modal labelledBy={TITLE_ID} onClose={close} closable={!busy} fallbackFocus={returnFocus}>
      <h2 id={TITLE_ID}>{words.title}</h2>
      {step.step === 'checking' ? (
        <p role="status">Checking what would happen to {plural(request.count, 'run')}…</p>
      ) : dry ? (
        <>
          <p className="bulk-summary">{describeDryRun(dry)}.</p>
          <NotActedOn dry={dry} />
          {dry.counts.eligible === 0 ? <p className="muted">Nothing to do: none of these runs can be {words.done}.</p> : null}
          {request.action === 'cancel' && dry.counts.eligible > 0 ? (
            <div className="field">
              <label htmlFor="bulk-reason">Reason (optional)</label>
              <input id="bulk-reason" value={reason} maxLength={500} disabled={busy} onChange={(e) => setReason(e.target.value)} />
            </div>
          ) : null}
        </>
      ) : step.step === 'done' ? (
        <Results result={step.result} />
      ) : step.step === 'error' ? (
        <Failure error={step.error} />
      ) : null}

      <div className="modal-actions">
        {step.step === 'done' || step.step === 'error' ? (
          <button type="button" className="btn" onClick={close}>
            Close
          </button>
        ) : (
          <>
            <button type="button" className="btn" onClick={close} disabled={busy}>
              Back
            </button>
            <button
              type="button"
              className={`btn ${request.action === 'cancel' ? 'btn-danger' : 'btn-primary'}`}
              disabled={!dry || dry.counts.eligible === 0 || busy}
              onClick={() => confirm(reason.trim() || undefined)}
            >
              {step.step === 'running' ? `${words.doing}…` : 'Confirm'}
            </button>
          </>
        )}
      </div>
    </Modal>
  );
}

/**
 * The confirmation of a bulk action: what the dry run says, then what was done, run by run. `returnFocus` is where
 * focus goes on close if the button that opened it is disabled by then (the selection it acted on is spent).
 */
export function BulkDialog({ flow, returnFocus }: { flow: BulkFlow; returnFocus: () => HTMLElement | null }) {
  if (!flow.request || !flow.step) return null;
  return <Body request={flow.request} step={flow.step} confirm={flow.confirm} close={flow.close} returnFocus={returnFocus} />;
}
