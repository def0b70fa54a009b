import { useMemo, useRef } from 'react';
import { DEFAULT_RUN_LIST_SORT } from '@tether/machine/protocol';
import { ConnectionIndicator } from '../../../components/ConnectionIndicator.tsx';
import { EmptyState, ErrorNotice } from '../../../components/States.tsx';
import { Link, setSearchParams, useLocation } from '../../../lib/router.tsx';
import { useNow } from '../../../lib/useNow.ts';
import { plural } from '../hooks/bulkWords.ts';
import { CLEAR_FILTERS, filterKey, filterOf, isFiltered, PAGE_SIZE, parseListState, toggleSort, type SortColumn } from '../hooks/listState.ts';
import { useBulkAction } from '../hooks/useBulkAction.ts';
import { usePager } from '../hooks/usePager.ts';
import { useRunsList } from '../hooks/useRunsList.ts';
import { useSelection } from '../hooks/useSelection.ts';
import { BulkBar } from './BulkBar.tsx';
import { BulkDialog } from './BulkDialog.tsx';
import { Pager } from './Pager.tsx';
import { RunFilters } from './RunFilters.tsx';
import { RunsTable } from './RunsTable.tsx';
import '../runs.css';

const count = (n: number) => n.toLocaleString('en');

export function RunsPage() {
  const { searchParams } = useLocation();
  const state = useMemo(() => parseListState(searchParams), [searchParams]);
  const list = useRunsList(state);
  const selection = useSelection(filterKey(state));
  const bulk = useBulkAction(selection.clear);
  const pager = usePager(state.cursor, list.page?.nextCursor ?? null);
  const now = useNow(1000);
  const bar = useRef<HTMLDivElement>(null);

  const { runs } = list;
  const total = list.page?.total ?? 0;
  const pageTicked = runs.length > 0 && runs.every((r) => selection.isSelected(r.id));
  const selected = selection.allMatching ? total : selection.ids.size;
  const first = pager.index === null ? null : pager.index * PAGE_SIZE + 1;
  const range =
    runs.length === 0
      ? null
      : first === null
        ? `${count(runs.length)} of ${count(total)}`
        : `${count(first)}–${count(first + runs.length - 1)} of ${count(total)}`;

  const onSort = (column: SortColumn) => {
    const sort = toggleSort(state.sort, column);
    // A cursor belongs to one order: a new order starts on its first page.
    setSearchParams({ sort: sort === DEFAULT_RUN_LIST_SORT ? null : sort, cursor: null });
  };

  let body;
  if (list.error && !list.page) {
    body = (
      <ErrorNotice
        title="Could not load runs"
        message={
          list.error.status === 401
            ? 'This server needs an API token (TETHER_API_TOKEN). Set it under “API token” in the header.'
            : list.error.message
        }
        action={
          <button type="button" className="btn" onClick={list.refresh}>
            Try again
          </button>
        }
      />
    );
  } else if (list.loading) {
    body = (
      <p className="muted" role="status">
        Loading runs…
      </p>
    );
  } else if (runs.length === 0 && !isFiltered(state) && state.cursor === null) {
    body = (
      <EmptyState title="No runs yet">
        <p>
          Launch one against the built-in simulator: the <strong>seed scenario</strong> preset times out once and succeeds on the second attempt.
        </p>
        <Link to="/runs/new?preset=seed" className="btn btn-primary">
          Launch the seed scenario
        </Link>
      </EmptyState>
    );
  } else if (runs.length === 0) {
    body = (
      <EmptyState title="No runs match these filters">
        <button type="button" className="btn" onClick={() => setSearchParams(CLEAR_FILTERS)}>
          Clear filters
        </button>
      </EmptyState>
    );
  } else {
    body = (
      <>
        {list.error ? (
          <p className="error-inline" role="alert">
            Could not refresh the list: {list.error.message}
          </p>
        ) : null}
        <RunsTable runs={runs} now={now} sort={state.sort} onSort={onSort} selection={selection} stale={list.stale} />
        <Pager pager={pager} />
      </>
    );
  }

  return (
    <section className="page runs-page" aria-labelledby="runs-title">
      <header className="runs-head">
        <h1 id="runs-title">Runs</h1>
        <div className="page-actions">
          <ConnectionIndicator connection={list.connection} now={now} />
          <Link to="/runs/new" className="btn btn-primary">
            Launch a run
          </Link>
        </div>
      </header>

      <RunFilters state={state} onChange={(patch) => setSearchParams(patch)} />

      <div className="runs-toolbar">
        <BulkBar
          ref={bar}
          count={selected}
          allMatching={selection.allMatching}
          onClear={selection.clear}
          onAction={(action) =>
            bulk.start({
              action,
              target: selection.allMatching ? { filter: filterOf(state) } : { ids: [...selection.ids] },
              count: selected,
            })
          }
        />
        <div className="runs-range">
          {list.newRuns > 0 ? (
            <button type="button" className="btn btn-small new-runs" onClick={list.refresh}>
              {plural(list.newRuns, 'new run')} — show
            </button>
          ) : null}
          {range ? (
            <span className="muted small num" aria-live="polite">
              {range}
            </span>
          ) : null}
        </div>
      </div>

      {pageTicked && !selection.allMatching && total > runs.length ? (
        <p className="select-all-note small">
          All {count(runs.length)} runs on this page are selected.{' '}
          <button type="button" className="btn btn-link" onClick={selection.selectAllMatching}>
            Select all {count(total)} matching this filter
          </button>
        </p>
      ) : selection.allMatching ? (
        <p className="select-all-note small">
          All {plural(total, 'run')} matching this filter are selected: a bulk action names the filter, not the rows.
        </p>
      ) : null}

      {body}
      <BulkDialog flow={bulk} returnFocus={() => bar.current} />
    </section>
  );
}
