import type { Attempt, RunEventEntry } from '@tether/machine/protocol';
import { attemptNumbersOf, eventName } from '../../../lib/event-names.ts';
import { formatTime, isoOf } from '../../../lib/time.ts';

export interface TimeTravelProps {
  events: readonly RunEventEntry[];
  /** The run's attempts, to name the attempt an entry is about ("attempt 2 timed out"). */
  attempts?: ReadonlyArray<Pick<Attempt, 'id' | 'number'>>;
  /** The reader's now: an entry of another day shows its date. */
  now: number;
  /** The log entry being viewed (its `seq`), or null for live. */
  seq: number | null;
  onSeq: (seq: number | null) => void;
}

/** `#9 callback → succeeded`: the entry in plain words (its raw type is the readout's tooltip). */
const describe = (e: RunEventEntry, attempt: number | undefined) =>
  `#${e.seq} ${eventName(e.type, attempt)}${e.stateAfter ? ` → ${e.stateAfter}` : ''}`;

/**
 * A scrubber over the run's event log. Each position is one entry; the page rebuilds the run as it was right after
 * that entry by replaying the log through the shared machine. The last position is live: dragging to the end (or
 * "back to live") follows the run again.
 */
export function TimeTravel({ events, attempts = [], now, seq, onSeq }: TimeTravelProps) {
  if (events.length === 0) return null;
  const last = events.length - 1;
  const found = seq === null ? -1 : events.findIndex((e) => e.seq === seq);
  const index = found === -1 ? last : found;
  const live = seq === null || found === -1;
  const entry = events[index]!;
  const at = Date.parse(entry.at);
  const when = formatTime(at, now, { ms: true });
  const words = describe(entry, attemptNumbersOf(attempts, events).get(entry.seq));
  const go = (i: number) => {
    const clamped = Math.min(last, Math.max(0, i));
    onSeq(clamped >= last ? null : events[clamped]!.seq);
  };

  return (
    <div
      className={`time-travel${live ? '' : ' time-travel-history'}`}
      role="group"
      aria-labelledby="time-travel-title"
      data-viewing={live ? 'live' : 'history'}
    >
      <div className="tt-controls">
        <h2 id="time-travel-title" className="tt-title">
          Time travel
        </h2>
        <button type="button" className="btn btn-small" onClick={() => go(index - 1)} disabled={index === 0} aria-label="Previous event">
          ◀
        </button>
        <input
          type="range"
          className="tt-range"
          aria-label="Time travel"
          min={0}
          max={last}
          step={1}
          value={index}
          aria-valuetext={`Event ${index + 1} of ${events.length}: ${words} at ${when}${live ? ' (live)' : ''}`}
          onChange={(e) => go(Number(e.target.value))}
        />
        <button type="button" className="btn btn-small" onClick={() => go(index + 1)} disabled={live} aria-label="Next event">
          ▶
        </button>
        <span className="tt-readout small" data-testid="time-travel-readout" title={`${isoOf(at)} ${entry.type}`}>
          <span className="num">{when}</span> <span>{words}</span>
        </span>
      </div>
      {live ? (
        <p className="tt-status small muted" role="status">
          Live — showing the run now. Drag back to see the machine, what could happen next and the attempts as they were after any event.
        </p>
      ) : (
        <p className="tt-status tt-banner" role="status">
          <strong>
            Viewing history at <span className="num">{when}</span>
          </strong>{' '}
          <span className="small">
            (after event {index + 1} of {events.length})
          </span>{' '}
          —{' '}
          <button type="button" className="btn-link-inline" onClick={() => onSeq(null)}>
            back to live
          </button>
        </p>
      )}
    </div>
  );
}
