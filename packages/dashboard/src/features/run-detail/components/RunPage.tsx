import { useMemo, useState, type ReactNode } from 'react';
import { forecast } from '@tether/machine';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { ConnectionIndicator } from '../../../components/ConnectionIndicator.tsx';
import { ForecastTable } from '../../../components/ForecastTable.tsx';
import { ErrorNotice } from '../../../components/States.tsx';
import { Time } from '../../../components/Time.tsx';
import { Link } from '../../../lib/router.tsx';
import { nextSteps, runAtEntry } from '../../../lib/run-snapshot.ts';
import type { StreamConnection } from '../../../lib/stream/useStream.ts';
import { useNow } from '../../../lib/useNow.ts';
import { useLiveSnapshot, useNextSteps } from '../hooks/useNextSteps.ts';
import { useRunDetail } from '../hooks/useRunDetail.ts';
import { useRunInspector } from '../hooks/useRunInspector.ts';
import '../run-detail.css';
import { AttemptsTable } from './AttemptsTable.tsx';
import { EventLog } from './EventLog.tsx';
import { InputPanel } from './InputPanel.tsx';
import { MachineDiagram } from './MachineDiagram.tsx';
import { NextStepsPanel } from './NextStepsPanel.tsx';
import { NotificationsPanel } from './NotificationsPanel.tsx';
import { ResultPanel } from './ResultPanel.tsx';
import { RunCopyBar } from './RunCopyBar.tsx';
import { RunHeader } from './RunHeader.tsx';
import { TestTools } from './TestTools.tsx';
import { TimeTravel } from './TimeTravel.tsx';
import { AttemptsTimeline } from './timeline/AttemptsTimeline.tsx';
import type { RestartMark } from './timeline/layout.ts';

function Section({
  id,
  title,
  children,
  className,
  aside,
}: {
  id: string;
  title: string;
  children: ReactNode;
  className?: string;
  aside?: ReactNode;
}) {
  return (
    <section className={`card ${className ?? ''}`} aria-labelledby={id}>
      {aside ? (
        <div className="section-head">
          <h2 id={id}>{title}</h2>
          {aside}
        </div>
      ) : (
        <h2 id={id}>{title}</h2>
      )}
      {children}
    </section>
  );
}

export function RunView({
  run,
  events,
  now,
  connection,
  onRun,
}: {
  run: Run;
  events: readonly RunEventEntry[];
  now: number;
  connection: StreamConnection;
  onRun: (run: Run) => void;
}) {
  // The machine's view of the run now: its log replayed through the shared machine, as the server rebuilds it.
  const live = useLiveSnapshot(run, events);
  const liveNext = useNextSteps(live.snapshot, now);
  // Time travel: the log entry being looked at (null = live), and the run rebuilt from the log up to it.
  const [travelSeq, setTravelSeq] = useState<number | null>(null);
  const history = useMemo(() => (travelSeq === null ? null : runAtEntry(run, events, travelSeq)), [run, events, travelSeq]);
  const next = useMemo(() => (history ? nextSteps(history.snapshot, history.at) : liveNext), [history, liveNext]);
  const shown = history?.run ?? run;
  const shownNow = history?.at ?? now;
  const accepted = useMemo(() => next.steps.filter((s) => s.accepted), [next]);
  const inspector = useRunInspector(run, events);
  const seenRestarts: RestartMark[] = connection.restarts.map((r) => ({
    at: Date.parse(r.startedAt),
    label: 'Server restarted (this page reconnected to a new server process).',
    origin: 'stream',
  }));
  const liveForecast = run.status === 'running' ? forecast(run.config, { context: live.snapshot.context }, run.id) : null;
  const historyTag = history ? (
    <span className="history-tag" data-testid="history-tag">
      as at <Time at={history.at} now={now} ms />
    </span>
  ) : null;

  return (
    <div className="run-page" data-snapshot-source={live.source}>
      <div className="run-topbar">
        <ConnectionIndicator connection={connection} now={now} />
      </div>
      <RunHeader run={run} events={events} now={now} onRun={onRun} />
      <RunCopyBar run={run} />

      <div className="grid-2">
        <Section id="input-title" title="Input">
          <InputPanel run={run} />
        </Section>
        <Section id="result-title" title="Result">
          <ResultPanel run={run} events={events} now={now} />
        </Section>
      </div>

      <Section id="timeline-title" title="Attempts timeline">
        <AttemptsTimeline run={run} events={events} now={now} seenRestarts={seenRestarts} cursorAt={history?.at ?? null} />
      </Section>

      {liveForecast || run.config.notify ? (
        <div className="grid-2">
          {liveForecast ? (
            <Section id="forecast-title" title="If no callback arrives">
              <ForecastTable
                forecast={liveForecast}
                maxAttempts={run.maxAttempts}
                origin={Date.parse(run.createdAt)}
                now={now}
                caption="Forecast of the remaining attempts"
              />
            </Section>
          ) : null}
          {run.config.notify ? (
            <Section id="notifications-title" title="Notifications">
              <NotificationsPanel run={run} events={events} now={now} onRun={onRun} />
            </Section>
          ) : null}
        </div>
      ) : null}

      <div className="machine-view" data-viewing={history ? 'history' : 'live'}>
        <TimeTravel events={events} attempts={run.attempts} now={now} seq={history ? history.entry.seq : null} onSeq={setTravelSeq} />
        <div className="grid-diagram">
          <Section
            id="machine-title"
            title="Machine"
            className="history-aware"
            aside={
              <span className="row-gap">
                {historyTag}
                <button
                  type="button"
                  className="btn btn-small"
                  onClick={inspector.open}
                  disabled={!inspector.ready}
                  title="Opens stately.ai/inspect in a new window and replays this run's event log through the machine there"
                >
                  Open in Stately inspector
                </button>
              </span>
            }
          >
            {inspector.loadError ? (
              <p className="error-inline" role="alert">
                {inspector.loadError}
              </p>
            ) : null}
            {inspector.opened ? (
              <p className="small muted" role="status">
                Sent to the Stately inspector window: the whole history, then each new event as it is applied.
              </p>
            ) : null}
            <MachineDiagram activeState={shown.state} accepted={accepted} />
          </Section>
          <Section id="next-title" title="What can happen next" className="history-aware" aside={historyTag}>
            <NextStepsPanel next={next} state={shown.state} now={shownNow} clockNow={now} />
          </Section>
        </div>

        <Section id="attempts-title" title="Attempts" className="history-aware" aside={historyTag}>
          <AttemptsTable run={shown} now={now} />
        </Section>
      </div>

      <TestTools run={run} onRun={onRun} />

      <Section id="log-title" title="Event log">
        <EventLog run={run} events={events} now={now} viewingSeq={history ? history.entry.seq : null} onTravel={setTravelSeq} />
      </Section>
    </div>
  );
}

export function RunPage({ id }: { id: string }) {
  const { run, events, error, loading, connection, accept, reload } = useRunDetail(id);
  const now = useNow(1000);
  if (!run) {
    if (loading) {
      return (
        <p className="page muted" role="status">
          Loading {id}…
        </p>
      );
    }
    return (
      <div className="page">
        <ErrorNotice
          title={error?.status === 404 ? `Run ${id} does not exist` : 'Could not load this run'}
          message={error?.status === 404 ? 'Check the id, or pick a run from the list.' : (error?.message ?? 'Unknown error.')}
          action={
            <span className="row-gap">
              <Link to="/" className="btn">
                Back to runs
              </Link>
              {error?.status !== 404 ? (
                <button type="button" className="btn" onClick={reload}>
                  Try again
                </button>
              ) : null}
            </span>
          }
        />
      </div>
    );
  }
  return (
    <section className="page" aria-labelledby="run-title">
      <RunView key={run.id} run={run} events={events} now={now} connection={connection} onRun={accept} />
    </section>
  );
}
