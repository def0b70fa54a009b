import type { Pager as PagerState } from '../hooks/usePager.ts';

/** Previous / Next: each shown only when there is a page that way (no "Next" on the last page). */
export function Pager({ pager }: { pager: PagerState }) {
  if (!pager.previous && !pager.next) return null;
  return (
    <nav className="pager" aria-label="Pages">
      {pager.previous ? (
        <button type="button" className="btn btn-small" onClick={pager.previous}>
          <span aria-hidden="true">{pager.previousIsFirst ? '«' : '‹'}</span> {pager.previousIsFirst ? 'First page' : 'Previous page'}
        </button>
      ) : null}
      {pager.next ? (
        <button type="button" className="btn btn-small" onClick={pager.next}>
          Next page <span aria-hidden="true">›</span>
        </button>
      ) : null}
    </nav>
  );
}
