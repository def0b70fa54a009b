import { useState } from 'react';
import type { Run, RunEventEntry } from '@tether/machine';
import { VerdictBadge } from '../../../components/Badge.tsx';
import { EmptyState } from '../../../components/States.tsx';
import { formatClockMs } from '../../../lib/time.ts';

/** The run's log: every applied or rejected event, with its source, verdict, HTTP answer and the exact machine event. */
export function EventLog({ run, events }: { run: Run; events: readonly RunEventEntry[] }) {
  const [type, setType] = useState('');
  const types = [...new Set(events.map((e) => e.type))].sort();
  const shown = type ? events.filter((e) => e.type === type) : events;
  const numberOf = new Map(run.attempts.map((a) => [a.id, a.number]));
  return (
    <div className="event-log">
      <div className="toolbar">
        <label htmlFor="event-type-filter">Event type</label>
        <select id="event-type-filter" value={type} onChange={(e) => setType(e.target.value)}>
          <option value="">All types ({events.length})</option>
          {types.map((t) => (
            <option key={t} value={t}>
              {t} ({events.filter((e) => e.type === t).length})
            </option>
          ))}
        </select>
      </div>
      {shown.length === 0 ? (
        <EmptyState title="No events">{type ? <p>No event of type {type}. Choose “All types”.</p> : <p>The log is empty.</p>}</EmptyState>
      ) : (
        <div className="table-scroll log-scroll">
          <table className="table table-compact" aria-label="Event log">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Time</th>
                <th scope="col">Type</th>
                <th scope="col">Source</th>
                <th scope="col">Verdict</th>
                <th scope="col">Attempt</th>
                <th scope="col">State after</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.seq} data-seq={e.seq} data-type={e.type} data-verdict={e.verdict}>
                  <td className="num">{e.seq}</td>
                  <td className="num">{formatClockMs(Date.parse(e.at))}</td>
                  <td className="mono small">{e.type}</td>
                  <td>{e.source}</td>
                  <td>
                    <VerdictBadge verdict={e.verdict} httpStatus={e.httpStatus} />
                  </td>
                  <td className="num">{e.attemptId ? `#${numberOf.get(e.attemptId) ?? '?'}` : '—'}</td>
                  <td className="mono small">{e.stateAfter ?? '—'}</td>
                  <td className="cell-message">
                    {e.detail ?? ''}
                    {e.event !== undefined ? (
                      <details className="event-json">
                        <summary>event</summary>
                        <pre className="mono small">{JSON.stringify(e.event, null, 2)}</pre>
                      </details>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
