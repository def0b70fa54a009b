import { useMemo } from 'react';
import { ConnectionIndicator } from '../../../components/ConnectionIndicator.tsx';
import { EmptyState, ErrorNotice } from '../../../components/States.tsx';
import { Link, setSearchParams, useLocation } from '../../../lib/router.tsx';
import { useNow } from '../../../lib/useNow.ts';
import { applyFilters, derivedCounts, parseFilters, statusCounts } from '../hooks/runFilters.ts';
import { useRunsList } from '../hooks/useRunsList.ts';
import { RunFilters } from './RunFilters.tsx';
import { RunsTable } from './RunsTable.tsx';

export function RunsPage() {
  const { searchParams } = useLocation();
  const filters = useMemo(() => parseFilters(searchParams), [searchParams]);
  const { runs, loaded, error, connection, nextCursor, loadMore } = useRunsList();
  const now = useNow(1000);
  const shown = applyFilters(runs, filters, now);
  const filtered = filters.status !== null || filters.name !== '' || filters.derived !== null;

  return (
    <section className="page" aria-labelledby="runs-title">
      <header className="page-header">
        <div>
          <h1 id="runs-title">Runs</h1>
          <p className="muted">Every run, live. Attempts, deadlines and callbacks update as they happen.</p>
        </div>
        <div className="page-actions">
          <ConnectionIndicator connection={connection} now={now} />
          <Link to="/runs/new" className="btn btn-primary">
            Launch a run
          </Link>
        </div>
      </header>

      <RunFilters
        filters={filters}
        derivedCounts={derivedCounts(runs, filters.name, now)}
        statusCounts={statusCounts(runs, filters.name)}
        onChange={(patch) => setSearchParams(patch)}
      />

      {error && !loaded ? (
        <ErrorNotice
          title="Could not load runs"
          message={error.status === 401 ? 'This server needs an API token (TETHER_API_TOKEN). Set it under Settings in the header.' : error.message}
          action={
            <button type="button" className="btn" onClick={() => window.location.reload()}>
              Try again
            </button>
          }
        />
      ) : !loaded ? (
        <p className="muted" role="status">
          Loading runs…
        </p>
      ) : runs.length === 0 ? (
        <EmptyState title="No runs yet">
          <p>
            Launch one against the built-in simulator: the <strong>seed scenario</strong> preset times out once and succeeds on the second attempt.
          </p>
          <Link to="/runs/new?preset=seed" className="btn btn-primary">
            Launch the seed scenario
          </Link>
        </EmptyState>
      ) : shown.length === 0 ? (
        <EmptyState title="No runs match these filters">
          <p>
            {runs.length} {runs.length === 1 ? 'run is' : 'runs are'} hidden by the filters.
          </p>
          <button type="button" className="btn" onClick={() => setSearchParams({ status: null, name: null, derived: null })}>
            Clear filters
          </button>
        </EmptyState>
      ) : (
        <>
          <p className="muted small" aria-live="polite">
            {filtered ? `${shown.length} of ${runs.length} runs` : `${runs.length} runs`}
          </p>
          <RunsTable runs={shown} now={now} />
          {nextCursor ? (
            <button type="button" className="btn" onClick={loadMore}>
              Load older runs
            </button>
          ) : null}
        </>
      )}
    </section>
  );
}
