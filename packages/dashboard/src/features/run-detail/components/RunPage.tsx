import { useMemo, type ReactNode } from 'react';
import { forecast } from '@tether/machine';
import { ConnectionIndicator } from '../../../components/ConnectionIndicator.tsx';
import { ForecastTable } from '../../../components/ForecastTable.tsx';
import { ErrorNotice } from '../../../components/States.tsx';
import { Link } from '../../../lib/router.tsx';
import { contextFromRun } from '../../../lib/run-snapshot.ts';
import { useNow } from '../../../lib/useNow.ts';
import { useNextSteps } from '../hooks/useNextSteps.ts';
import { useRunDetail } from '../hooks/useRunDetail.ts';
import type { Run, RunEventEntry } from '@tether/machine';
import type { StreamConnection } from '../../../lib/stream/useStream.ts';
import { AttemptsTable } from './AttemptsTable.tsx';
import { CallbackConsole } from './CallbackConsole.tsx';
import { EventLog } from './EventLog.tsx';
import { MachineDiagram } from './MachineDiagram.tsx';
import { NextStepsPanel } from './NextStepsPanel.tsx';
import { RunHeader } from './RunHeader.tsx';
import { AttemptsTimeline } from './timeline/AttemptsTimeline.tsx';
import type { RestartMark } from './timeline/layout.ts';

function Section({ id, title, children, className }: { id: string; title: string; children: ReactNode; className?: string }) {
  return (
    <section className={`card ${className ?? ''}`} aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

export function RunView({ run, events, now, connection, onRun }: { run: Run; events: readonly RunEventEntry[]; now: number; connection: StreamConnection; onRun: (run: Run) => void }) {
  const next = useNextSteps(run, now);
  const accepted = useMemo(() => new Set(next.steps.filter((s) => s.accepted).map((s) => s.eventType)), [next]);
  const seenRestarts: RestartMark[] = connection.restarts.map((r) => ({
    at: Date.parse(r.startedAt),
    label: 'Server restarted (this page reconnected to a new server process).',
    origin: 'stream',
  }));
  const live = run.status === 'running' ? forecast(run.config, { context: contextFromRun(run) }, run.id) : null;

  return (
    <div className="run-page">
      <div className="run-topbar">
        <ConnectionIndicator connection={connection} now={now} />
      </div>
      <RunHeader run={run} events={events} now={now} onRun={onRun} />

      <Section id="timeline-title" title="Attempts timeline">
        <AttemptsTimeline run={run} events={events} now={now} seenRestarts={seenRestarts} />
      </Section>

      <div className="grid-2">
        <Section id="console-title" title="Callback console">
          <CallbackConsole run={run} onRun={onRun} />
        </Section>
        {live ? (
          <Section id="forecast-title" title="If no callback arrives">
            <ForecastTable forecast={live} origin={Date.parse(run.createdAt)} caption="Forecast of the remaining attempts" />
          </Section>
        ) : null}
      </div>

      <div className="grid-diagram">
        <Section id="machine-title" title="Machine">
          <MachineDiagram activeState={run.state} acceptedEvents={accepted} />
        </Section>
        <Section id="next-title" title="What can happen next">
          <NextStepsPanel next={next} state={run.state} now={now} />
        </Section>
      </div>

      <Section id="attempts-title" title="Attempts">
        <AttemptsTable run={run} />
      </Section>

      <Section id="log-title" title="Event log">
        <EventLog run={run} events={events} />
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
      <RunView run={run} events={events} now={now} connection={connection} onRun={accept} />
    </section>
  );
}
