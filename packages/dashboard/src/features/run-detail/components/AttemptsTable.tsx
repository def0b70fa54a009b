import type { Run } from '@tether/machine/protocol';
import { AttemptStateBadge } from '../../../components/Badge.tsx';
import { JsonBlock } from '../../../components/JsonBlock.tsx';
import { formatClockMs } from '../../../lib/time.ts';

const t = (iso: string | null) => (iso ? formatClockMs(Date.parse(iso)) : '—');

/** Every attempt with the seed's fields (Id, Started, StateSet, TimeoutDue, State, Message, IsSuccess) and ours. */
export function AttemptsTable({ run }: { run: Run }) {
  if (run.attempts.length === 0) return <p className="muted">No attempts yet.</p>;
  return (
    <div className="table-scroll">
      <table className="table attempts-table" aria-label="Attempts">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Id</th>
            <th scope="col">Started</th>
            <th scope="col">State set</th>
            <th scope="col">Timeout due</th>
            <th scope="col">State</th>
            <th scope="col">Message</th>
            <th scope="col">Success</th>
            <th scope="col">Triggered</th>
            <th scope="col">Ended</th>
            <th scope="col">Timer late</th>
          </tr>
        </thead>
        <tbody>
          {run.attempts.map((a) => (
            <tr key={a.id} data-attempt-id={a.id}>
              <td className="num">{a.number}</td>
              <td className="mono small">{a.id}</td>
              <td className="num">{t(a.started)}</td>
              <td className="num">{t(a.stateSet)}</td>
              <td className="num">{t(a.timeoutDue)}</td>
              <td>
                <AttemptStateBadge state={a.state} />
              </td>
              <td className="cell-message">
                {a.message}
                {a.output !== undefined ? <JsonBlock value={a.output} label="output" collapsed /> : null}
                {a.progress !== undefined ? <JsonBlock value={a.progress} label="progress" collapsed /> : null}
              </td>
              <td>{a.isSuccess ? 'yes' : 'no'}</td>
              <td className="num">{t(a.triggeredAt)}</td>
              <td className="num">{t(a.endedAt)}</td>
              <td className="num">{a.timerLatenessMs !== null ? `${a.timerLatenessMs} ms` : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
