/**
 * The list's state, kept in the URL so it survives reloads and can be shared:
 * `?status=running&name=export&derived=inBackoff&createdAfter=…&createdBefore=…&sort=-updatedAt&cursor=…`. Everything
 * here is served by the API (status, name, derived state, created range, order, page): the page shows what the server answers, as it answers it.
 */
import {
  DEFAULT_RUN_LIST_SORT,
  DERIVED_FILTERS,
  DERIVED_PREDICATES,
  type DerivedFilter,
  RUN_LIST_SORTS,
  RUN_STATUSES,
  type RunFilter,
  type RunListSort,
  type RunStatus,
  type RunSummary,
} from '@tether/machine/protocol';
import type { RunListParams } from '../../../lib/queryKeys.ts';

/** Rows on one page: one screenful and a bit, never the whole list in the DOM. */
export const PAGE_SIZE = 50;

export interface ListState {
  status: RunStatus | null;
  name: string;
  /** A derived state ("needs attention"), decided by the server with the shared predicates. */
  derived: DerivedFilter | null;
  /** ISO instants; `createdAfter` inclusive, `createdBefore` exclusive, as the API reads them. */
  createdAfter: string | null;
  createdBefore: string | null;
  sort: RunListSort;
  /** The page: the previous page's `nextCursor`; null for the first. */
  cursor: string | null;
}

const isoOrNull = (v: string | null): string | null => {
  const ms = v ? Date.parse(v) : Number.NaN;
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
};

const oneOf = <T extends string>(values: readonly T[], v: string | null): T | null =>
  v !== null && (values as readonly string[]).includes(v) ? (v as T) : null;

/** Reads the URL; a value it does not know (a mistyped status, an unreadable date) is left out rather than sent. */
export function parseListState(params: URLSearchParams): ListState {
  return {
    status: oneOf(RUN_STATUSES, params.get('status')),
    name: params.get('name') ?? '',
    derived: oneOf(DERIVED_FILTERS, params.get('derived')),
    createdAfter: isoOrNull(params.get('createdAfter')),
    createdBefore: isoOrNull(params.get('createdBefore')),
    sort: oneOf(RUN_LIST_SORTS, params.get('sort')) ?? DEFAULT_RUN_LIST_SORT,
    cursor: params.get('cursor') || null,
  };
}

/** The filter part: what the bulk actions' `filter` takes, with the same meaning as the list's. */
export function filterOf(s: ListState): RunFilter {
  return {
    ...(s.status ? { status: s.status } : {}),
    ...(s.name ? { name: s.name } : {}),
    ...(s.derived ? { derived: s.derived } : {}),
    ...(s.createdAfter ? { createdAfter: s.createdAfter } : {}),
    ...(s.createdBefore ? { createdBefore: s.createdBefore } : {}),
  };
}

/** The request for the page the URL names. Absent values are left out, so equal states make equal query keys. */
export function listParams(s: ListState): RunListParams {
  return { ...filterOf(s), sort: s.sort, limit: PAGE_SIZE, ...(s.cursor ? { cursor: s.cursor } : {}) };
}

export const isFiltered = (s: ListState): boolean => Object.keys(filterOf(s)).length > 0;

/** Identifies the set of runs (not the page or the order): a selection belongs to one. */
export const filterKey = (s: ListState): string => JSON.stringify(filterOf(s));

/** URL patch that clears every filter (and the page, which belonged to them). */
export const CLEAR_FILTERS = { status: null, name: null, derived: null, createdAfter: null, createdBefore: null, cursor: null } as const;

/**
 * On the first page in the default order, a new run belongs at the top: the page asks the stream for every created
 * run. Not with `createdBefore`: no new run is before a bound already given.
 */
export const showsNewest = (s: ListState): boolean => s.cursor === null && s.sort === DEFAULT_RUN_LIST_SORT && s.createdBefore === null;

/**
 * Whether a just-created run matches the filter, to count it as "new" on the first page. The same rules as the
 * server's (RunFilter): status equal, name a case-insensitive substring, created at or after `createdAfter`.
 */
export function matchesFilter(run: RunSummary, s: ListState): boolean {
  if (s.status && run.status !== s.status) return false;
  if (s.name && !run.name.toLowerCase().includes(s.name.toLowerCase())) return false;
  if (s.derived && !DERIVED_PREDICATES[s.derived](run, Date.now())) return false;
  if (s.createdAfter && Date.parse(run.createdAt) < Date.parse(s.createdAfter)) return false;
  return true;
}

/** The columns the API sorts by, and the direction a first click picks: newest, latest or longest first; status in its order. */
export const SORT_COLUMNS = {
  createdAt: { label: 'Created', first: 'desc' },
  updatedAt: { label: 'Updated', first: 'desc' },
  status: { label: 'Status', first: 'asc' },
  duration: { label: 'Duration', first: 'desc' },
} as const;
export type SortColumn = keyof typeof SORT_COLUMNS;

const sortOf = (column: SortColumn, dir: 'asc' | 'desc'): RunListSort => oneOf(RUN_LIST_SORTS, dir === 'desc' ? `-${column}` : column)!;

/** How `sort` orders by `column`, as aria-sort says it; null when the list is ordered by another column. */
export function sortDirection(sort: RunListSort, column: SortColumn): 'ascending' | 'descending' | null {
  if (sort === column) return 'ascending';
  if (sort === `-${column}`) return 'descending';
  return null;
}

/** A click on a column header: the other direction if the list is already ordered by it, else its first direction. */
export function toggleSort(sort: RunListSort, column: SortColumn): RunListSort {
  const current = sortDirection(sort, column);
  if (current === 'descending') return sortOf(column, 'asc');
  if (current === 'ascending') return sortOf(column, 'desc');
  return sortOf(column, SORT_COLUMNS[column].first);
}
