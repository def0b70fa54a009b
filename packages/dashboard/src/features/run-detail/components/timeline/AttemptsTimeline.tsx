import { useRef } from 'react';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { AttemptStateBadge } from '../../../../components/Badge.tsx';
import { Countdown } from '../../../../components/Countdown.tsx';
import { Time } from '../../../../components/Time.tsx';
import { VERDICT_MEANING, verdictWord } from '../../../../lib/event-names.ts';
import { attemptStateTone, verdictTone } from '../../../../lib/tones.ts';
import { formatDuration, formatOffset, formatTime, localizeInstants } from '../../../../lib/time.ts';
import { useElementWidth } from '../../hooks/useElementWidth.ts';
import { DEFAULT_TRACK_PX, layoutTimeline, pct, widthPct, type AttemptLane, type CallbackMark, type RestartMark, type Timeline } from './layout.ts';

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

/** A callback mark's name: who, for which attempt, when, and the verdict in the API's word. */
function markText(m: CallbackMark, now: number): string {
  const who = m.source === 'operator' ? 'operator' : m.kind === 'heartbeat' ? 'heartbeat' : 'callback';
  const status = m.httpStatus !== null ? `${m.httpStatus} ` : '';
  const att = m.attemptNumber !== null ? ` for attempt ${m.attemptNumber}` : '';
  return `${who}${att} at ${formatTime(m.at, now, { ms: true })}: ${status}${verdictWord(m.verdict)}${m.detail ? ` — ${localizeInstants(m.detail, now)}` : ''}`;
}

function AttemptRow({ a, tl }: { a: AttemptLane; tl: Timeline }) {
  const tone = attemptStateTone[a.state];
  const at = (t: number) => formatTime(t, tl.now, { ms: true });
  const label = `Attempt ${a.number}: ${a.state}${a.open ? `, times out at ${at(a.dueAt)}` : ''}${a.lateLabel ? `, timer fired ${a.latenessMs} ms late` : ''}`;
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
            {/* Too narrow for its text: the length stays in the tooltip and for screen readers, not on top of the bar's ends. */}
            <span className={a.backoffLabelFits ? 'tl-seg-text' : 'sr-only'}>{a.backoffLabel}</span>
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
        <span className="tl-due" style={{ left: `${pct(a.dueAt, tl)}%` }} title={`Times out at ${at(a.dueAt)}`} aria-hidden="true" />
        {!a.open && a.endedAt !== null ? (
          <span
            className={`tl-outcome tone-${tone}`}
            style={{ left: `${pct(a.endedAt, tl)}%` }}
            title={`${a.state} at ${at(a.endedAt)}`}
            aria-hidden="true"
          >
            <OutcomeGlyph state={a.state} />
          </span>
        ) : null}
        {a.lateLabel && a.endedAt !== null ? (
          <span
            className={a.lateSide === null ? 'sr-only' : `tl-late num tl-late-${a.lateSide}`}
            style={a.lateSide === 'before' ? { right: `${100 - pct(a.endedAt, tl)}%` } : { left: `${pct(a.endedAt, tl)}%` }}
            data-testid={`lateness-${a.number}`}
          >
            {a.lateLabel}
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
  // Labels are fitted to the track's real width (the axis row's track: every row's track is as wide).
  const axis = useRef<HTMLDivElement>(null);
  const trackPx = useElementWidth(axis);
  const tl = layoutTimeline(run, events, now, seenRestarts, trackPx ?? DEFAULT_TRACK_PX);
  if (tl.attempts.length === 0) {
    return <p className="muted">No attempt has started yet.</p>;
  }
  return (
    <figure className="timeline" aria-label="Attempts timeline">
      <div className="tl-body">
        <div className="tl-row tl-axis" aria-hidden="true">
          <span className="tl-label" />
          <div className="tl-track" ref={axis}>
            {tl.ticks.map((t) => (
              <span key={t.at} className="tl-tick num" style={{ left: `${pct(t.at, tl)}%` }}>
                {t.label}
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
              aria-label={`Attempt ${tl.pending.number} starts at ${formatTime(tl.pending.startsAt, now, { ms: true })}`}
            >
              <span className="tl-label">
                <span className="num">#{tl.pending.number}</span>
              </span>
              <div className="tl-track">
                <span
                  className="tl-seg tl-backoff tl-backoff-live"
                  data-testid={`backoff-before-${tl.pending.number}`}
                  style={{ left: `${pct(tl.pending.backoff.from, tl)}%`, width: `${widthPct(tl.pending.backoff, tl)}%` }}
                  title={`Backoff ${formatDuration(tl.pending.backoff.to - tl.pending.backoff.from)}`}
                >
                  <span className={tl.pending.backoffLabelFits ? 'tl-seg-text' : 'sr-only'}>{tl.pending.backoffLabel}</span>
                </span>
              </div>
              <span className="tl-status">
                <Countdown to={tl.pending.startsAt} now={now} label={`Attempt ${tl.pending.number} starts`} />
              </span>
            </li>
          ) : null}
        </ol>

        <div className="tl-row tl-lane" style={{ ['--levels' as string]: tl.laneLevels }}>
          <span className="tl-label small">Callbacks</span>
          <ol className="tl-track" aria-label="Callback lane">
            {tl.callbacks.length === 0 ? <li className="tl-lane-empty muted small">No callback received yet.</li> : null}
            {tl.callbacks.map((m) => (
              <li
                key={m.seq}
                className={`tl-mark tone-${verdictTone[m.verdict]} tl-mark-${m.kind}${m.source === 'operator' ? ' tl-mark-operator' : ''}${m.compact ? ' tl-mark-compact' : ''}`}
                style={{ left: `${pct(m.at, tl)}%`, ['--level' as string]: m.level }}
                data-verdict={m.verdict}
                data-http-status={m.httpStatus ?? undefined}
                tabIndex={0}
                aria-label={markText(m, now)}
              >
                {m.compact ? null : (
                  <span className="tl-mark-text num" aria-hidden="true">
                    {m.text}
                  </span>
                )}
                <span className="tl-tip" role="tooltip">
                  {markText(m, now)}
                  <span className="tl-tip-meaning">{VERDICT_MEANING[m.verdict]}</span>
                </span>
              </li>
            ))}
          </ol>
          <span className="tl-status" />
        </div>

        <div className="tl-overlay" aria-hidden="true">
          {tl.restarts.map((r) => (
            <span key={`${r.origin}-${r.at}`} className="tl-restart" style={{ left: `${pct(r.at, tl)}%` }} title={localizeInstants(r.label, now)}>
              {r.flag ? <span className="tl-restart-flag">⟳</span> : null}
            </span>
          ))}
          {tl.deadlineAt !== null && tl.deadlineAt <= tl.end ? (
            <span className="tl-deadline" style={{ left: `${pct(tl.deadlineAt, tl)}%` }} title={`Run deadline ${formatTime(tl.deadlineAt, now)}`} />
          ) : null}
          {tl.running ? <span className="tl-now" style={{ left: `${pct(now, tl)}%` }} title="now" /> : null}
          {cursorAt !== null ? (
            <span
              className="tl-cursor"
              data-testid="time-travel-cursor"
              style={{ left: `${pct(cursorAt, tl)}%` }}
              title={`Time travel: viewing ${formatTime(cursorAt, now, { ms: true })} (${formatOffset(cursorAt - tl.start)})`}
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
              <Time at={r.at} now={now} ms /> — {localizeInstants(r.label, now)}
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
