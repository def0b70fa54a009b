import type { RunSummary } from '@tether/machine/protocol';
import { RunStatusBadge } from '../../../components/Badge.tsx';
import { Countdown } from '../../../components/Countdown.tsx';
import { Link } from '../../../lib/router.tsx';
import { formatDateTime, formatDuration } from '../../../lib/time.ts';
import { stateLabel } from '../../../lib/tones.ts';

export function RunsTable({ runs, now }: { runs: RunSummary[]; now: number }) {
  return (
    <table className="table runs-table" aria-label="Runs">
      <thead>
        <tr>
          <th scope="col" className="col-status">
            Status
          </th>
          <th scope="col" className="col-id">
            Run
          </th>
          <th scope="col" className="col-attempt">
            Attempt
          </th>
          <th scope="col" className="col-due">
            Next deadline
          </th>
          <th scope="col">Last message</th>
          <th scope="col" className="col-time">
            Started
          </th>
          <th scope="col" className="col-duration">
            Duration
          </th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => {
          const created = Date.parse(r.createdAt);
          const end = r.finishedAt ? Date.parse(r.finishedAt) : now;
          return (
            <tr key={r.id} data-run-id={r.id} data-status={r.status} data-state={r.state}>
              <td>
                <RunStatusBadge status={r.status} />
                <div className="muted small">{stateLabel[r.state] ?? r.state}</div>
              </td>
              <td>
                <Link to={`/runs/${r.id}`} className="run-link">
                  {r.name || <span className="muted">(unnamed)</span>}
                </Link>
                <div className="mono small muted">{r.id}</div>
              </td>
              <td className="num">
                {r.attempt} / {r.maxAttempts}
              </td>
              <td>
                {r.nextDueAt ? (
                  <Countdown to={Date.parse(r.nextDueAt)} now={now} label={`Next deadline of ${r.id}`} />
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td className="cell-message" title={r.overallState}>
                {r.lastMessage}
              </td>
              <td className="num">{formatDateTime(created)}</td>
              <td className="num">{formatDuration(end - created)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
