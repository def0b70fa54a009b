/**
 * The list filters, kept in the URL: `?status=running&name=export&derived=overdue`. Derived filters use the shared
 * predicates from @tether/machine, so "Overdue" here is exactly what the server and the tests call overdue.
 */
import { DERIVED_FILTERS, DERIVED_PREDICATES, RUN_STATUSES, type DerivedFilter, type RunStatus, type RunSummary } from '@tether/machine/protocol';

export interface RunFilters {
  status: RunStatus | null;
  name: string;
  derived: DerivedFilter | null;
}

export function parseFilters(params: URLSearchParams): RunFilters {
  const status = params.get('status');
  const derived = params.get('derived');
  return {
    status: status && (RUN_STATUSES as readonly string[]).includes(status) ? (status as RunStatus) : null,
    name: params.get('name') ?? '',
    derived: derived && (DERIVED_FILTERS as readonly string[]).includes(derived) ? (derived as DerivedFilter) : null,
  };
}

const nameMatches = (run: RunSummary, name: string) => !name || run.name.toLowerCase().includes(name.toLowerCase()) || run.id.includes(name);

export function applyFilters(runs: readonly RunSummary[], f: RunFilters, now: number): RunSummary[] {
  return runs.filter(
    (r) => (f.status === null || r.status === f.status) && nameMatches(r, f.name) && (f.derived === null || DERIVED_PREDICATES[f.derived](r, now)),
  );
}

/** How many runs are in each derived state, among the runs the name filter leaves. */
export function derivedCounts(runs: readonly RunSummary[], name: string, now: number): Record<DerivedFilter, number> {
  const counts = Object.fromEntries(DERIVED_FILTERS.map((d) => [d, 0])) as Record<DerivedFilter, number>;
  for (const r of runs) {
    if (!nameMatches(r, name)) continue;
    for (const d of DERIVED_FILTERS) if (DERIVED_PREDICATES[d](r, now)) counts[d]++;
  }
  return counts;
}

export function statusCounts(runs: readonly RunSummary[], name: string): Record<RunStatus, number> {
  const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
  for (const r of runs) if (nameMatches(r, name)) counts[r.status]++;
  return counts;
}
