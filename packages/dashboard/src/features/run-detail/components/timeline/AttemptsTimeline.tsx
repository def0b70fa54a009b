import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { AttemptStateBadge } from '../../../../components/Badge.tsx';
import { Countdown } from '../../../../components/Countdown.tsx';
import { attemptStateTone, verdictLabel, verdictTone } from '../../../../lib/tones.ts';
import { formatClockMs, formatDuration, formatOffset } from '../../../../lib/time.ts';
import { layoutTimeline, pct, widthPct, type AttemptLane, type CallbackMark, type RestartMark, type Timeline } from './layout.ts';

export interface AttemptsTimelineProps {
  run: Run;
  events: readonly RunEventEntry[];
  now: number;
  /** Restarts this page noticed on the stream (a new bootId), in addition to the log's `server.recovered`. */
  seenRestarts?: readonly RestartMark[];
  /** The instant time travel is looking at, drawn as a cursor across the rows; null while live. */
  cursorAt?: number | null;
}

const OUTCOME_GLYPH: Record<string, string> = {
  CallbackSuccess: '✓',
  CallbackFailure: '✕',
  TriggerFailed: '✕',
  Cancelled: '⊘',
};

/** A clock face for timeouts: drawn, because the stopwatch character is missing from common Linux fonts. */
function ClockGlyph() {
  return (
    <svg className="tl-clock" viewBox="0 0 16 16" width="13" height="13" aria-hidden="true">
      <circle cx="8" cy="8" r="6.3" fill="none" stroke="currentColor" strokeWidth="1.8" />
      <path d="M8 4.3V8l2.6 1.7" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
    </svg>
  );
}

function OutcomeGlyph({ state }: { state: string }) {
  return state === 'TimedOut' || state === 'HeartbeatTimedOut' ? <ClockGlyph /> : <>{OUTCOME_GLYPH[state] ?? '•'}</>;
}

function markText(m: CallbackMark): string {
  const who = m.source === 'operator' ? 'operator' : m.kind === 'heartbeat' ? 'heartbeat' : 'callback';
  const status = m.httpStatus !== null ? `${m.httpStatus} ` : '';
  const att = m.attemptNumber !== null ? ` for attempt ${m.attemptNumber}` : '';
  return `${who}${att} at ${formatClockMs(m.at)}: ${status}${verdictLabel[m.verdict]}${m.detail ? ` — ${m.detail}` : ''}`;
}

function AttemptRow({ a, tl }: { a: AttemptLane; tl: Timeline }) {
  const tone = attemptStateTone[a.state];
  const late = a.latenessMs !== null && (a.state === 'TimedOut' || a.state === 'HeartbeatTimedOut');
  const label = `Attempt ${a.number}: ${a.state}${a.open ? `, times out at ${formatClockMs(a.dueAt)}` : ''}${late ? `, timer fired ${a.latenessMs} ms late` : ''}`;
  return (
    <li className="tl-row" data-attempt={a.number} data-state={a.state} aria-label={label}>
      <span className="tl-label">
        <span className="num">#{a.number}</span>
      </span>
      <div className="tl-track">
        {a.backoffBefore ? (
          <span
            className="tl-seg tl-backoff"
            data-testid={`backoff-before-${a.number}`}
            style={{ left: `${pct(a.backoffBefore.from, tl)}%`, width: `${widthPct(a.backoffBefore, tl)}%` }}
            title={`Backoff ${formatDuration(a.backoffBefore.to - a.backoffBefore.from)}`}
          >
            <span className="tl-seg-text">backoff {formatDuration(a.backoffBefore.to - a.backoffBefore.from)}</span>
          </span>
        ) : null}
        <span
          className={`tl-seg tl-trigger${a.trigger.failed ? ' tone-bg-danger' : ''}`}
          data-testid={`trigger-${a.number}`}
          style={{ left: `${pct(a.trigger.from, tl)}%`, width: `${widthPct(a.trigger, tl)}%` }}
          title={`Trigger ${formatDuration(a.trigger.to - a.trigger.from)}${a.trigger.failed ? ' (failed)' : ''}`}
        />
        {a.open || a.waiting ? (
          // The whole window the attempt may wait, outlined, so the remaining time reads at a glance.
          <span
            className="tl-window"
            style={{ left: `${pct(a.trigger.from, tl)}%`, width: `${widthPct({ from: a.trigger.from, to: a.dueAt }, tl)}%` }}
            aria-hidden="true"
          />
        ) : null}
        {a.waiting ? (
          <span
            className={`tl-seg tl-wait tone-bg-${tone}${a.open ? ' tl-wait-open' : ''}`}
            data-testid={`waiting-${a.number}`}
            style={{ left: `${pct(a.waiting.from, tl)}%`, width: `${widthPct(a.waiting, tl)}%` }}
            title={`Waited ${formatDuration(a.waiting.to - a.waiting.from)} for the callback`}
          />
        ) : null}
        <span className="tl-due" style={{ left: `${pct(a.dueAt, tl)}%` }} title={`Times out at ${formatClockMs(a.dueAt)}`} aria-hidden="true" />
        {!a.open && a.endedAt !== null ? (
          <span
            className={`tl-outcome tone-${tone}`}
            style={{ left: `${pct(a.endedAt, tl)}%` }}
            title={`${a.state} at ${formatClockMs(a.endedAt)}`}
            aria-hidden="true"
          >
            <OutcomeGlyph state={a.state} />
          </span>
        ) : null}
        {late && a.endedAt !== null ? (
          <span className="tl-late num" style={{ left: `${pct(a.endedAt, tl)}%` }} data-testid={`lateness-${a.number}`}>
            fired +{a.latenessMs} ms late
          </span>
        ) : null}
      </div>
      <span className="tl-status">
        {a.open ? <Countdown to={a.dueAt} now={tl.now} label={`Attempt ${a.number} times out`} /> : <AttemptStateBadge state={a.state} />}
      </span>
    </li>
  );
}

export function AttemptsTimeline({ run, events, now, seenRestarts = [], cursorAt = null }: AttemptsTimelineProps) {
  const tl = layoutTimeline(run, events, now, seenRestarts);
  if (tl.attempts.length === 0) {
    return <p className="muted">No attempt has started yet.</p>;
  }
  const levels = Math.max(1, ...tl.callbacks.map((m) => m.level + 1));
  return (
    <figure className="timeline" aria-label="Attempts timeline">
      <div className="tl-body">
        <div className="tl-row tl-axis" aria-hidden="true">
          <span className="tl-label" />
          <div className="tl-track">
            {tl.ticks.map((t) => (
              <span key={t} className="tl-tick num" style={{ left: `${pct(t, tl)}%` }}>
                {formatOffset(t - tl.start)}
              </span>
            ))}
          </div>
          <span className="tl-status" />
        </div>

        <ol className="tl-rows" aria-label="Attempts">
          {tl.attempts.map((a) => (
            <AttemptRow key={a.id} a={a} tl={tl} />
          ))}
          {tl.pending ? (
            <li
              className="tl-row tl-pending"
              data-attempt={tl.pending.number}
              aria-label={`Attempt ${tl.pending.number} starts at ${formatClockMs(tl.pending.startsAt)}`}
            >
              <span className="tl-label">
                <span className="num">#{tl.pending.number}</span>
              </span>
              <div className="tl-track">
                <span
                  className="tl-seg tl-backoff tl-backoff-live"
                  data-testid={`backoff-before-${tl.pending.number}`}
                  style={{ left: `${pct(tl.pending.backoff.from, tl)}%`, width: `${widthPct(tl.pending.backoff, tl)}%` }}
                >
                  <span className="tl-seg-text">backoff {formatDuration(tl.pending.backoff.to - tl.pending.backoff.from)}</span>
                </span>
              </div>
              <span className="tl-status">
                <Countdown to={tl.pending.startsAt} now={now} label={`Attempt ${tl.pending.number} starts`} />
              </span>
            </li>
          ) : null}
        </ol>

        <div className="tl-row tl-lane" style={{ ['--levels' as string]: levels }}>
          <span className="tl-label small">Callbacks</span>
          <ol className="tl-track" aria-label="Callback lane">
            {tl.callbacks.length === 0 ? <li className="tl-lane-empty muted small">No callback received yet.</li> : null}
            {tl.callbacks.map((m) => (
              <li
                key={m.seq}
                className={`tl-mark tone-${verdictTone[m.verdict]} tl-mark-${m.kind}${m.source === 'operator' ? ' tl-mark-operator' : ''}`}
                style={{ left: `${pct(m.at, tl)}%`, ['--level' as string]: m.level }}
                data-verdict={m.verdict}
                data-http-status={m.httpStatus ?? undefined}
                tabIndex={0}
                aria-label={markText(m)}
              >
                <span className="tl-mark-text num" aria-hidden="true">
                  {m.httpStatus ?? (m.source === 'operator' ? 'op' : '•')}
                </span>
                <span className="tl-tip" role="tooltip">
                  {markText(m)}
                </span>
              </li>
            ))}
          </ol>
          <span className="tl-status" />
        </div>

        <div className="tl-overlay" aria-hidden="true">
          {tl.restarts.map((r) => (
            <span key={`${r.origin}-${r.at}`} className="tl-restart" style={{ left: `${pct(r.at, tl)}%` }} title={r.label}>
              <span className="tl-restart-flag">⟳</span>
            </span>
          ))}
          {tl.deadlineAt !== null && tl.deadlineAt <= tl.end ? (
            <span className="tl-deadline" style={{ left: `${pct(tl.deadlineAt, tl)}%` }} title={`Run deadline ${formatClockMs(tl.deadlineAt)}`} />
          ) : null}
          {tl.running ? <span className="tl-now" style={{ left: `${pct(now, tl)}%` }} title="now" /> : null}
          {cursorAt !== null ? (
            <span
              className="tl-cursor"
              data-testid="time-travel-cursor"
              style={{ left: `${pct(cursorAt, tl)}%` }}
              title={`Time travel: viewing ${formatClockMs(cursorAt)} (${formatOffset(cursorAt - tl.start)})`}
            />
          ) : null}
        </div>
      </div>

      {tl.restarts.length ? (
        <ul className="tl-restarts" aria-label="Server restarts">
          {tl.restarts.map((r) => (
            <li key={`${r.origin}-${r.at}`}>
              <span className="tl-restart-flag" aria-hidden="true">
                ⟳
              </span>{' '}
              <span className="num">{formatClockMs(r.at)}</span> — {r.label}
              {r.origin === 'stream' ? <span className="muted"> (seen by this page)</span> : null}
            </li>
          ))}
        </ul>
      ) : null}

      <figcaption className="tl-legend small muted">
        <span className="legend-item">
          <span className="legend-swatch tl-trigger" /> trigger
        </span>
        <span className="legend-item">
          <span className="legend-swatch tone-bg-info" /> waiting for callback (coloured by outcome)
        </span>
        <span className="legend-item">
          <span className="legend-swatch tl-window" /> time allowed
        </span>
        <span className="legend-item">
          <span className="legend-swatch tl-backoff" /> backoff
        </span>
        <span className="legend-item">⟳ server restart</span>
        <span className="legend-item">axis: time since the run was created</span>
      </figcaption>
    </figure>
  );
}
