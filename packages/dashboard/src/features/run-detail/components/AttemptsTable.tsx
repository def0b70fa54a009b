import type { Run } from '@tether/machine/protocol';
import { AttemptStateBadge } from '../../../components/Badge.tsx';
import { JsonBlock } from '../../../components/JsonBlock.tsx';
import { Time } from '../../../components/Time.tsx';
import { localizeInstants } from '../../../lib/time.ts';

/**
 * Every attempt with the seed's fields (Id, Started, StateSet, TimeoutDue, State, Message, IsSuccess) and ours. Compact
 * enough for 1280 px without losing a column: times to the second (the exact instant is each cell's tooltip, lateness
 * has its own column), ids and messages wrap.
 */
export function AttemptsTable({ run, now }: { run: Run; now: number }) {
  if (run.attempts.length === 0) return <p className="muted">No attempts yet.</p>;
  const t = (iso: string | null) => (iso ? <Time at={Date.parse(iso)} now={now} /> : '—');
  return (
    <div className="table-scroll">
      <table className="table table-compact attempts-table" aria-label="Attempts">
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
              <td className="mono small cell-id">{a.id}</td>
              <td className="cell-time">{t(a.started)}</td>
              <td className="cell-time">{t(a.stateSet)}</td>
              <td className="cell-time">{t(a.timeoutDue)}</td>
              <td>
                <AttemptStateBadge state={a.state} />
              </td>
              <td className="cell-message">
                {localizeInstants(a.message, now)}
                {a.output !== undefined ? <JsonBlock value={a.output} label="output" collapsed /> : null}
                {a.progress !== undefined ? <JsonBlock value={a.progress} label="progress" collapsed /> : null}
              </td>
              <td>{a.isSuccess ? 'yes' : 'no'}</td>
              <td className="cell-time">{t(a.triggeredAt)}</td>
              <td className="cell-time">{t(a.endedAt)}</td>
              <td className="num">{a.timerLatenessMs !== null ? `${a.timerLatenessMs} ms` : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
