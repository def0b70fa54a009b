import { useEffect, useRef, useState } from 'react';
import { DERIVED_FILTER_LABELS, DERIVED_FILTERS, RUN_STATUSES } from '@tether/machine/protocol';
import { Link } from '../../../lib/router.tsx';
import { fromLocalInput, toLocalInput } from '../hooks/dateInput.ts';
import { CLEAR_FILTERS, isFiltered, type ListState } from '../hooks/listState.ts';

/** Typing pauses this long before the list is asked again: one request per word, not per keystroke. */
export const NAME_DEBOUNCE_MS = 300;
const RUN_ID = /^run_[A-Za-z0-9_-]{1,64}$/;

export interface RunFiltersProps {
  state: ListState;
  /** A URL patch; every filter change also drops the page (`cursor`), which belonged to the old filter. */
  onChange: (patch: Record<string, string | null>) => void;
}

export function RunFilters({ state, onChange }: RunFiltersProps) {
  // The name box shows what is typed at once and updates the URL after a pause. A change from elsewhere (back
  // button, a link) resets the box: adjusted during render, not in an effect after it.
  const [name, setName] = useState(state.name);
  const [urlName, setUrlName] = useState(state.name);
  if (state.name !== urlName) {
    setUrlName(state.name);
    setName(state.name);
  }
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => clearTimeout(timer.current ?? undefined), []);
  const typed = (value: string) => {
    setName(value);
    clearTimeout(timer.current ?? undefined);
    timer.current = setTimeout(() => onChange({ name: value.trim() || null, cursor: null }), NAME_DEBOUNCE_MS);
  };

  const badRange = state.createdAfter !== null && state.createdBefore !== null && state.createdAfter >= state.createdBefore;
  const trimmed = name.trim();

  return (
    <div className="filters" role="search" aria-label="Filter runs">
      <div className="filter-group filter-name">
        <label htmlFor="filter-name">Name</label>
        <input id="filter-name" type="search" value={name} placeholder="e.g. nightly export" onChange={(e) => typed(e.target.value)} />
      </div>
      <div className="filter-group">
        <label htmlFor="filter-status">Status</label>
        <select id="filter-status" value={state.status ?? ''} onChange={(e) => onChange({ status: e.target.value || null, cursor: null })}>
          <option value="">All statuses</option>
          {RUN_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div className="filter-group">
        <label htmlFor="filter-derived">Needs attention</label>
        <select id="filter-derived" value={state.derived ?? ''} onChange={(e) => onChange({ derived: e.target.value || null, cursor: null })}>
          <option value="">Any</option>
          {DERIVED_FILTERS.map((d) => (
            <option key={d} value={d}>
              {DERIVED_FILTER_LABELS[d]}
            </option>
          ))}
        </select>
      </div>
      <CreatedBound
        id="filter-created-after"
        label="Created after"
        value={state.createdAfter}
        invalid={badRange}
        onValue={(createdAfter) => onChange({ createdAfter, cursor: null })}
      />
      <CreatedBound
        id="filter-created-before"
        label="Created before"
        value={state.createdBefore}
        invalid={badRange}
        onValue={(createdBefore) => onChange({ createdBefore, cursor: null })}
      />
      {isFiltered(state) ? (
        <button
          type="button"
          className="btn btn-link"
          onClick={() => {
            // A name still waiting out its pause would bring the filter back.
            clearTimeout(timer.current ?? undefined);
            onChange(CLEAR_FILTERS);
          }}
        >
          Clear filters
        </button>
      ) : null}
      {badRange ? (
        <p id="filter-range-error" className="field-error filters-note">
          “Created after” must be earlier than “Created before”.
        </p>
      ) : null}
      {/* The filter matches names only: an id pasted here most likely means "open that run". */}
      {RUN_ID.test(trimmed) ? (
        <p className="filters-note small">
          Looking for a run by id? <Link to={`/runs/${trimmed}`}>Open {trimmed}</Link>
        </p>
      ) : null}
    </div>
  );
}

/** One end of the created-date range: a local date-time input holding an ISO instant (or none). */
function CreatedBound(props: { id: string; label: string; value: string | null; invalid: boolean; onValue: (iso: string | null) => void }) {
  return (
    <div className="filter-group">
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="datetime-local"
        value={toLocalInput(props.value)}
        aria-invalid={props.invalid || undefined}
        aria-describedby={props.invalid ? 'filter-range-error' : undefined}
        onChange={(e) => props.onValue(fromLocalInput(e.target.value))}
      />
    </div>
  );
}
