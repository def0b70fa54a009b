import { setSearchParams, useEntryState } from '../../../lib/router.tsx';

/** The history entry's own state key: the cursors of the pages before this one ('' for the first). */
const TRAIL = 'runsTrail';

export interface Pager {
  /** Zero-based page number, or null when it is not known (a link opened on a later page). */
  index: number | null;
  next: (() => void) | null;
  previous: (() => void) | null;
  /** Previous goes to the first page: the pages in between are not known (the URL was opened as it is). */
  previousIsFirst: boolean;
}

function readTrail(raw: string | null): string[] {
  try {
    const v: unknown = raw ? JSON.parse(raw) : [];
    return Array.isArray(v) ? v.filter((c): c is string => typeof c === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * Cursor paging. The API only goes forward (`nextCursor`), so the way back is kept in each history entry: Next pushes
 * an entry that remembers the cursors before it, Previous pops one. The browser's Back button works the same way.
 */
export function usePager(cursor: string | null, nextCursor: string | null): Pager {
  const trail = readTrail(useEntryState(TRAIL));
  const known = cursor === null || trail.length > 0;
  return {
    index: cursor === null ? 0 : known ? trail.length : null,
    next: nextCursor ? () => setSearchParams({ cursor: nextCursor }, { state: { [TRAIL]: JSON.stringify([...trail, cursor ?? '']) } }) : null,
    previous:
      cursor === null ? null : () => setSearchParams({ cursor: trail.at(-1) || null }, { state: { [TRAIL]: JSON.stringify(trail.slice(0, -1)) } }),
    previousIsFirst: !known,
  };
}
