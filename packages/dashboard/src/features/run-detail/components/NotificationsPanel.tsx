/**
 * The completion webhook of a run with `config.notify`: where it goes, its state, and every try from the event log
 * (status, latency, what followed), with a "Re-deliver" button once the run is final.
 */
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { Countdown } from '../../../components/Countdown.tsx';
import { Time } from '../../../components/Time.tsx';
import { localizeInstants } from '../../../lib/time.ts';
import { redeliverNotification } from '../api/runApi.ts';
import { useAction } from '../hooks/useAction.ts';

const STATE_WORDS = { pending: 'Pending', delivered: 'Delivered', failed: 'Gave up' } as const;

export function NotificationsPanel({
  run,
  events,
  now,
  onRun,
}: {
  run: Run;
  events: readonly RunEventEntry[];
  now: number;
  onRun: (run: Run) => void;
}) {
  const action = useAction();
  const notify = run.config.notify;
  if (!notify) return null;
  const n = run.notification;
  const tries = events.filter((e) => e.type === 'notify.delivered' || e.type === 'notify.failed' || e.type === 'notify.redeliver');
  return (
    <div data-testid="notifications">
      <p className="small">
        <code>POST {notify.url}</code> when the run is final, signed (<code>Tether-Signature</code>).
      </p>
      <p>
        <strong>State:</strong>{' '}
        <span data-testid="notification-state" data-state={n?.state ?? 'waiting'}>
          {n ? STATE_WORDS[n.state] : 'Not sent yet: the run is not final'}
        </span>
        {n ? ` · ${n.attempts} ${n.attempts === 1 ? 'try' : 'tries'}` : null}
        {n?.state === 'pending' && n.nextAt ? (
          <>
            {' '}
            · next try at <Time at={Date.parse(n.nextAt)} now={now} /> <Countdown to={Date.parse(n.nextAt)} now={now} label="Next try" />
          </>
        ) : null}
      </p>
      {tries.length ? (
        <div className="table-scroll">
          <table className="table small" aria-label="Webhook deliveries">
            <thead>
              <tr>
                <th scope="col">At</th>
                <th scope="col">Outcome</th>
                <th scope="col">Status</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {tries.map((e) => (
                <tr key={e.seq}>
                  <td className="cell-time">
                    <Time at={Date.parse(e.at)} now={now} ms />
                  </td>
                  <td>{e.type === 'notify.delivered' ? 'Delivered' : e.type === 'notify.failed' ? 'Failed' : 'Re-deliver requested'}</td>
                  <td className="num">{e.httpStatus ?? '—'}</td>
                  <td>{e.detail ? localizeInstants(e.detail, now) : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <button
        type="button"
        className="btn"
        disabled={!n || action.pending !== null}
        title={n ? 'Send the completion webhook again' : 'Once the run is final'}
        onClick={() => void action.run('Re-deliver', async () => onRun(await redeliverNotification(run.id)))}
      >
        {action.pending === 'Re-deliver' ? 'Re-delivering…' : 'Re-deliver'}
      </button>
      {action.error ? (
        <p role="alert" className="error-notice small">
          {action.error}
        </p>
      ) : null}
    </div>
  );
}
