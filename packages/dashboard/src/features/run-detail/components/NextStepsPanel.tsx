import { Countdown } from '../../../components/Countdown.tsx';
import { Time } from '../../../components/Time.tsx';
import type { NextStep, NextSteps } from '../../../lib/run-snapshot.ts';
import { localizeInstants } from '../../../lib/time.ts';
import { stateLabel } from '../../../lib/tones.ts';

function Outcome({ step, now }: { step: NextStep; now: number }) {
  const path = step.path.length ? step.path : [step.resultState];
  return (
    <>
      <span className="ns-path mono">
        {path.map((s, i) => (
          <span key={i}>
            {i > 0 ? <span aria-hidden="true"> → </span> : <span aria-hidden="true">→ </span>}
            <span className="sr-only">{i > 0 ? ' then ' : ' leads to '}</span>
            {s}
          </span>
        ))}
      </span>
      {step.effects.length ? <div className="ns-effects small muted">then Tether {step.effects.join(', ')}</div> : null}
      <div className="ns-sentence small">“{localizeInstants(step.resultSentence, now)}”</div>
    </>
  );
}

/**
 * "What can happen next": the deadlines that will fire and the events the current state would apply, each tried
 * against the shared machine (the run's log replayed) to show where it leads. The words are the log's verdicts: an
 * event the machine takes is `applied`, one it does not is `rejected`.
 *
 * `now` is the instant looked at (the entry's, while time travelling), which the countdowns count from; `clockNow` is
 * the reader's, which decides whether a time shows its date.
 */
export function NextStepsPanel({ next, state, now, clockNow = now }: { next: NextSteps; state: string; now: number; clockNow?: number }) {
  if (next.final) {
    return (
      <div className="next-steps" aria-label="What can happen next">
        <p>
          The run is final (<span className="mono">{state}</span>): the machine applies no more events. Callbacks now are answered 410 late and
          recorded. Use <strong>Rerun</strong> to start a new run with the same configuration.
        </p>
      </div>
    );
  }
  const timers = next.steps.filter((s) => s.kind === 'timer' && s.accepted);
  const events = next.steps.filter((s) => s.kind === 'event' && s.accepted);
  const refused = next.steps.filter((s) => !s.accepted);
  return (
    <div className="next-steps" aria-label="What can happen next">
      <p className="small muted">
        In <span className="mono">{state}</span> ({stateLabel[state] ?? state}), asked of the run statechart itself.
      </p>
      <h3>Deadlines</h3>
      {timers.length === 0 ? (
        <p className="muted small">No timer is armed in this state.</p>
      ) : (
        <ul className="ns-list">
          {timers.map((s) => (
            <li key={s.key} className="ns-item ns-timer" data-event-type={s.eventType}>
              <div className="ns-head">
                <strong>{s.label}</strong>{' '}
                {s.dueAt !== null ? (
                  <>
                    <Time at={s.dueAt} now={clockNow} /> <Countdown to={s.dueAt} now={now} label={s.label} />
                  </>
                ) : null}
              </div>
              <Outcome step={s} now={clockNow} />
            </li>
          ))}
        </ul>
      )}
      <h3>Events it would apply now</h3>
      <ul className="ns-list">
        {events.map((s) => (
          <li key={s.key} className="ns-item" data-event-type={s.eventType} data-accepted="true">
            <div className="ns-head">
              <strong>{s.label}</strong> <span className="muted small">from the {s.sender}</span> <code className="small">{s.eventType}</code>
              {s.guard ? <code className="small muted"> [{s.guard}]</code> : null}
            </div>
            <Outcome step={s} now={clockNow} />
          </li>
        ))}
      </ul>
      {refused.length ? (
        <>
          <h3>Rejected now by a guard</h3>
          <ul className="ns-list">
            {refused.map((s) => (
              <li key={s.key} className="ns-item ns-refused" data-event-type={s.eventType} data-accepted="false">
                <strong>{s.label}</strong> <code className="small">{s.eventType}</code>
                {s.guard ? <span className="small muted"> — guard {s.guard} is false</span> : null}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {next.notAccepted.length ? (
        <p className="small muted">
          Not handled in this state (answered 409 by the API, or ignored):{' '}
          {next.notAccepted.map((t, i) => (
            <span key={t}>
              {i > 0 ? ', ' : ''}
              <code>{t}</code>
            </span>
          ))}
          .
        </p>
      ) : null}
    </div>
  );
}
