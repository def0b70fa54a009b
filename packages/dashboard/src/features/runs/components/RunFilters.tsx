import { useState } from 'react';
import { DERIVED_FILTERS, DERIVED_FILTER_LABELS, RUN_STATUSES, type DerivedFilter, type RunStatus } from '@tether/machine/protocol';
import { derivedTone } from '../../../lib/tones.ts';
import type { RunFilters as Filters } from '../hooks/runFilters.ts';

const DERIVED_HINT: Record<DerivedFilter, string> = {
  retrying: 'On attempt 2 or later and not finished',
  inBackoff: 'Waiting out a backoff before the next attempt',
  overdue: 'Still waiting past its deadline: a timer that did not fire',
  exhausted: 'Failed after using every allowed attempt',
};

export interface RunFiltersProps {
  filters: Filters;
  derivedCounts: Record<DerivedFilter, number>;
  statusCounts: Record<RunStatus, number>;
  onChange: (patch: Record<string, string | null>) => void;
}

export function RunFilters({ filters, derivedCounts, statusCounts, onChange }: RunFiltersProps) {
  // The name box updates the URL as you type, without a history entry per keystroke.
  // A change from elsewhere (back button, a link) resets the box: adjusted during render, not in an effect after it.
  const [name, setName] = useState(filters.name);
  const [urlName, setUrlName] = useState(filters.name);
  if (filters.name !== urlName) {
    setUrlName(filters.name);
    setName(filters.name);
  }

  return (
    <div className="filters" role="search" aria-label="Filter runs">
      <div className="filter-group">
        <label htmlFor="filter-name">Name or id</label>
        <input
          id="filter-name"
          type="search"
          value={name}
          placeholder="e.g. nightly export"
          onChange={(e) => {
            setName(e.target.value);
            onChange({ name: e.target.value || null });
          }}
        />
      </div>
      <div className="filter-group">
        <label htmlFor="filter-status">Status</label>
        <select id="filter-status" value={filters.status ?? ''} onChange={(e) => onChange({ status: e.target.value || null })}>
          <option value="">All statuses</option>
          {RUN_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s} ({statusCounts[s]})
            </option>
          ))}
        </select>
      </div>
      <div className="filter-group" role="group" aria-label="Derived states">
        <span className="filter-label" aria-hidden="true">
          Needs attention
        </span>
        <div className="chips">
          {DERIVED_FILTERS.map((d) => {
            const active = filters.derived === d;
            return (
              <button
                key={d}
                type="button"
                className={`chip tone-${derivedTone[d]}${active ? ' chip-active' : ''}`}
                aria-pressed={active}
                title={DERIVED_HINT[d]}
                data-derived={d}
                onClick={() => onChange({ derived: active ? null : d })}
              >
                {DERIVED_FILTER_LABELS[d]} <span className="chip-count num">{derivedCounts[d]}</span>
              </button>
            );
          })}
        </div>
      </div>
      {filters.status || filters.name || filters.derived ? (
        <button type="button" className="btn btn-link" onClick={() => onChange({ status: null, name: null, derived: null })}>
          Clear filters
        </button>
      ) : null}
    </div>
  );
}
