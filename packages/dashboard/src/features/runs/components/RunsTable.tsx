import type { RunListSort, RunSummary } from '@tether/machine/protocol';
import { RunStatusBadge } from '../../../components/Badge.tsx';
import { Link } from '../../../lib/router.tsx';
import { formatAgo, formatDuration, formatTime, isoOf } from '../../../lib/time.ts';
import { stateLabel } from '../../../lib/tones.ts';
import { SORT_COLUMNS, sortDirection, type SortColumn } from '../hooks/listState.ts';
import type { Selection } from '../hooks/useSelection.ts';

export interface RunsTableProps {
  runs: readonly RunSummary[];
  now: number;
  sort: RunListSort;
  onSort: (column: SortColumn) => void;
  selection: Selection;
  /** The rows are the previous page's while the next loads: dimmed, still readable. */
  stale?: boolean;
}

/** "5 min ago", the exact instant on hover and for assistive tech in `dateTime`. */
function Ago({ iso, now }: { iso: string; now: number }) {
  const at = Date.parse(iso);
  return (
    <time dateTime={isoOf(at)} title={formatTime(at, now)}>
      {formatAgo(at, now)}
    </time>
  );
}

function SortHeader({
  column,
  sort,
  onSort,
  className,
}: {
  column: SortColumn;
  sort: RunListSort;
  onSort: (c: SortColumn) => void;
  className: string;
}) {
  const dir = sortDirection(sort, column);
  return (
    <th scope="col" className={className} aria-sort={dir ?? undefined}>
      <button type="button" className="sort-button" onClick={() => onSort(column)}>
        {SORT_COLUMNS[column].label}
        <span className="sort-mark" aria-hidden="true">
          {dir === 'ascending' ? '▲' : dir === 'descending' ? '▼' : ''}
        </span>
      </button>
    </th>
  );
}

/**
 * The page of runs, one line each. Under 640 px wide each row is a card instead (runs.css): same elements, so the
 * roles and labels a test or a screen reader finds are the same at every width.
 */
export function RunsTable({ runs, now, sort, onSort, selection, stale = false }: RunsTableProps) {
  const ids = runs.map((r) => r.id);
  const ticked = ids.filter((id) => selection.isSelected(id)).length;
  return (
    <table className="table runs-table" aria-label="Runs" aria-busy={stale || undefined} data-stale={stale || undefined}>
      <thead>
        <tr>
          <th scope="col" className="col-select">
            <input
              type="checkbox"
              aria-label="Select all runs on this page"
              checked={ids.length > 0 && ticked === ids.length}
              ref={(el) => {
                if (el) el.indeterminate = ticked > 0 && ticked < ids.length;
              }}
              onChange={(e) => selection.setMany(ids, e.target.checked)}
            />
          </th>
          <th scope="col" className="col-run">
            Run
          </th>
          <SortHeader column="status" sort={sort} onSort={onSort} className="col-status" />
          <th scope="col" className="col-attempt">
            Attempt
          </th>
          <SortHeader column="createdAt" sort={sort} onSort={onSort} className="col-created" />
          <SortHeader column="updatedAt" sort={sort} onSort={onSort} className="col-updated" />
          <SortHeader column="duration" sort={sort} onSort={onSort} className="col-duration" />
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => {
          const created = Date.parse(r.createdAt);
          const end = r.finishedAt ? Date.parse(r.finishedAt) : now;
          const label = r.name || r.id;
          return (
            <tr key={r.id} data-run-id={r.id} data-status={r.status} data-state={r.state} data-selected={selection.isSelected(r.id) || undefined}>
              <td className="col-select">
                <input
                  type="checkbox"
                  aria-label={`Select ${label}`}
                  checked={selection.isSelected(r.id)}
                  onChange={(e) => selection.toggle(r.id, e.target.checked)}
                />
              </td>
              <td className="col-run">
                <Link to={`/runs/${r.id}`} className="run-link">
                  {r.name || <span className="muted">(unnamed)</span>}
                </Link>
                <span className="run-id mono small muted">{r.id}</span>
              </td>
              {/* The state and the last message, one hover away: the badge is the one status on the line. */}
              <td className="col-status" title={`${stateLabel[r.state] ?? r.state}${r.lastMessage ? ` — ${r.lastMessage}` : ''}`}>
                <RunStatusBadge status={r.status} />
              </td>
              <td className="col-attempt num" data-label="Attempt">
                {r.attempt} of {r.maxAttempts}
              </td>
              <td className="col-created num" data-label="Created">
                <Ago iso={r.createdAt} now={now} />
              </td>
              <td className="col-updated num" data-label="Updated">
                <Ago iso={r.updatedAt} now={now} />
              </td>
              <td className="col-duration num" data-label="Duration">
                {formatDuration(end - created)}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
