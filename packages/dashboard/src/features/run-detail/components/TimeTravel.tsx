import type { RunEventEntry } from '@tether/machine/protocol';
import { formatClockMs } from '../../../lib/time.ts';

export interface TimeTravelProps {
  events: readonly RunEventEntry[];
  /** The log entry being viewed (its `seq`), or null for live. */
  seq: number | null;
  onSeq: (seq: number | null) => void;
}

const describe = (e: RunEventEntry) => `#${e.seq} ${e.type}${e.stateAfter ? ` → ${e.stateAfter}` : ''}`;

/**
 * A scrubber over the run's event log. Each position is one entry; the page rebuilds the run as it was right after
 * that entry by replaying the log through the shared machine. The last position is live: dragging to the end (or
 * "back to live") follows the run again.
 */
export function TimeTravel({ events, seq, onSeq }: TimeTravelProps) {
  if (events.length === 0) return null;
  const last = events.length - 1;
  const found = seq === null ? -1 : events.findIndex((e) => e.seq === seq);
  const index = found === -1 ? last : found;
  const live = seq === null || found === -1;
  const entry = events[index]!;
  const at = Date.parse(entry.at);
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
          aria-valuetext={`Event ${index + 1} of ${events.length}: ${describe(entry)} at ${formatClockMs(at)}${live ? ' (live)' : ''}`}
          onChange={(e) => go(Number(e.target.value))}
        />
        <button type="button" className="btn btn-small" onClick={() => go(index + 1)} disabled={live} aria-label="Next event">
          ▶
        </button>
        <span className="tt-readout small" data-testid="time-travel-readout" title={`${formatClockMs(at)} ${describe(entry)}`}>
          <span className="num">{formatClockMs(at)}</span> <span className="mono">{describe(entry)}</span>
        </span>
      </div>
      {live ? (
        <p className="tt-status small muted" role="status">
          Live — showing the run now. Drag back to see the machine, what could happen next and the attempts as they were after any event.
        </p>
      ) : (
        <p className="tt-status tt-banner" role="status">
          <strong>
            Viewing history at <span className="num">{formatClockMs(at)}</span>
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
