import { useState, type ReactNode } from 'react';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { VerdictBadge } from '../../../components/Badge.tsx';
import { EmptyState } from '../../../components/States.tsx';
import { eventName } from '../../../lib/event-names.ts';
import { formatClockMs } from '../../../lib/time.ts';

/** Timer event types run long (`xstate.after.attemptTimeout.run.attempt.awaitingCallback`): let them wrap at the dots. */
function breakAtDots(type: string): ReactNode[] {
  const parts = type.split('.');
  return parts.flatMap((part, i) => (i < parts.length - 1 ? [`${part}.`, <wbr key={i} />] : [part]));
}

export interface EventLogProps {
  run: Run;
  events: readonly RunEventEntry[];
  /** The entry time travel is looking at, marked in the log. */
  viewingSeq?: number | null;
  /** Time travel to the run as it was right after an entry. */
  onTravel?: (seq: number) => void;
}

/** The run's log: every applied or rejected event, with its source, verdict, HTTP answer and the exact machine event. */
export function EventLog({ run, events, viewingSeq = null, onTravel }: EventLogProps) {
  const [type, setType] = useState('');
  const types = [...new Set(events.map((e) => e.type))].sort();
  const shown = type ? events.filter((e) => e.type === type) : events;
  const numberOf = new Map(run.attempts.map((a) => [a.id, a.number]));
  // Timer entries carry no attemptId: they belong to the attempt of the last applied entry that named one.
  const attemptOf = new Map<number, number | undefined>();
  let current: number | undefined;
  for (const e of events) {
    if (e.attemptId && e.verdict === 'applied') current = numberOf.get(e.attemptId);
    attemptOf.set(e.seq, e.attemptId ? numberOf.get(e.attemptId) : current);
  }
  return (
    <div className="event-log">
      <div className="toolbar">
        <label htmlFor="event-type-filter">Event type</label>
        <select id="event-type-filter" value={type} onChange={(e) => setType(e.target.value)}>
          <option value="">All types ({events.length})</option>
          {types.map((t) => (
            <option key={t} value={t}>
              {eventName(t)} · {t} ({events.filter((e) => e.type === t).length})
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
                <tr
                  key={e.seq}
                  data-seq={e.seq}
                  data-type={e.type}
                  data-verdict={e.verdict}
                  aria-current={e.seq === viewingSeq ? 'true' : undefined}
                  className={e.seq === viewingSeq ? 'row-viewing' : undefined}
                >
                  <td className="num">
                    {onTravel ? (
                      <button
                        type="button"
                        className="btn-link-inline num"
                        onClick={() => onTravel(e.seq)}
                        aria-label={`View the run as it was after event ${e.seq}`}
                        title="Time travel to right after this event"
                      >
                        {e.seq}
                      </button>
                    ) : (
                      e.seq
                    )}
                  </td>
                  <td className="num">{formatClockMs(Date.parse(e.at))}</td>
                  <td className="cell-event-type" data-event-type={e.type} title={e.type}>
                    <span className="event-name">{eventName(e.type, attemptOf.get(e.seq))}</span>
                    <code className="event-raw mono small muted">{breakAtDots(e.type)}</code>
                  </td>
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
