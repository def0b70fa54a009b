import { useState, type ReactNode } from 'react';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { VerdictBadge } from '../../../components/Badge.tsx';
import { LazyDetails } from '../../../components/LazyDetails.tsx';
import { EmptyState } from '../../../components/States.tsx';
import { Time } from '../../../components/Time.tsx';
import { attemptNumbersOf, eventName } from '../../../lib/event-names.ts';
import { localizeInstants } from '../../../lib/time.ts';

/** Timer event types run long (`xstate.after.attemptTimeout.run.attempt.awaitingCallback`): let them wrap at the dots. */
function breakAtDots(type: string): ReactNode[] {
  const parts = type.split('.');
  return parts.flatMap((part, i) => (i < parts.length - 1 ? [`${part}.`, <wbr key={i} />] : [part]));
}

export interface EventLogProps {
  run: Run;
  events: readonly RunEventEntry[];
  /** The reader's now: times of another day show their date. */
  now: number;
  /** The entry time travel is looking at, marked in the log. */
  viewingSeq?: number | null;
  /** Time travel to the run as it was right after an entry. */
  onTravel?: (seq: number) => void;
}

/**
 * The run's log: every applied or rejected event, with its source, verdict, HTTP answer and the exact machine event.
 * Events are named in plain words; the raw type is the cell's tooltip and opens with the event's JSON.
 */
export function EventLog({ run, events, now, viewingSeq = null, onTravel }: EventLogProps) {
  // Filtered by plain name: the timer types of one timer (fired while triggering, or while waiting) are one choice.
  const [name, setName] = useState('');
  const names = [...new Set(events.map((e) => eventName(e.type)))].sort();
  const shown = name ? events.filter((e) => eventName(e.type) === name) : events;
  const numberOf = new Map(run.attempts.map((a) => [a.id, a.number]));
  const attemptOf = attemptNumbersOf(run.attempts, events);
  return (
    <div className="event-log">
      <div className="toolbar">
        <label htmlFor="event-type-filter">Event type</label>
        <select id="event-type-filter" value={name} onChange={(e) => setName(e.target.value)}>
          <option value="">All types ({events.length})</option>
          {names.map((n) => {
            const of = events.filter((e) => eventName(e.type) === n);
            return (
              <option key={n} value={n} title={[...new Set(of.map((e) => e.type))].join(', ')}>
                {n} ({of.length})
              </option>
            );
          })}
        </select>
      </div>
      {shown.length === 0 ? (
        <EmptyState title="No events">{name ? <p>No “{name}” event. Choose “All types”.</p> : <p>The log is empty.</p>}</EmptyState>
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
                  <td className="cell-time">
                    <Time at={Date.parse(e.at)} now={now} ms />
                  </td>
                  <td className="cell-event-type" data-event-type={e.type} title={e.type}>
                    <span className="event-name">{eventName(e.type, attemptOf.get(e.seq))}</span>
                  </td>
                  <td>{e.source}</td>
                  <td>
                    <VerdictBadge verdict={e.verdict} httpStatus={e.httpStatus} />
                  </td>
                  <td className="num">{e.attemptId ? `#${numberOf.get(e.attemptId) ?? '?'}` : '—'}</td>
                  <td className="mono small">{e.stateAfter ?? '—'}</td>
                  <td className="cell-message">
                    {e.detail ? localizeInstants(e.detail, now) : ''}
                    <LazyDetails className="event-json" summary={e.event !== undefined ? 'event' : 'type'}>
                      {() => (
                        <>
                          <code className="event-raw mono small">{breakAtDots(e.type)}</code>
                          {e.event !== undefined ? <pre className="mono small">{JSON.stringify(e.event, null, 2)}</pre> : null}
                        </>
                      )}
                    </LazyDetails>
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
