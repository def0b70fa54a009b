/**
 * A dependency-free router: the History API plus a hook. react-router would need Node 22 to build; three routes
 * do not need it. Search params are the state of the list filters, so they live in the URL and survive reloads.
 * An entry may also carry a little state of its own (history.state: string values by key), for what belongs to that
 * entry but not in a shareable URL — the list's way back through the pages it came from.
 */
import { useMemo, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

const NAVIGATE_EVENT = 'tether:navigate';

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(NAVIGATE_EVENT, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(NAVIGATE_EVENT, onChange);
  };
}

const currentHref = (): string => window.location.pathname + window.location.search;

export interface Location {
  pathname: string;
  search: string;
  searchParams: URLSearchParams;
}

export function useLocation(): Location {
  const href = useSyncExternalStore(subscribe, currentHref, currentHref);
  return useMemo(() => {
    const url = new URL(href, 'http://local');
    return { pathname: url.pathname, search: url.search, searchParams: url.searchParams };
  }, [href]);
}

export type EntryState = Record<string, string>;

export interface NavigateOptions {
  replace?: boolean;
  /** The new entry's own state (history.state); none by default. */
  state?: EntryState;
}

export function navigate(to: string, options: NavigateOptions = {}): void {
  if (to === currentHref()) return;
  const state = options.state ?? null;
  if (options.replace) window.history.replaceState(state, '', to);
  else {
    window.history.pushState(state, '', to);
    window.scrollTo?.(0, 0);
  }
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

/** `/runs/:id` against `/runs/run_1` → `{ id: 'run_1' }`; null when it does not match. */
export function matchPath(pattern: string, pathname: string): Record<string, string> | null {
  const want = pattern.split('/').filter(Boolean);
  const got = pathname.split('/').filter(Boolean);
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith(':')) params[w.slice(1)] = decodeURIComponent(g);
    else if (w !== g) return null;
  }
  return params;
}

/** One value of the current entry's state (see `navigate`), re-read on every navigation; null when it has none. */
export function useEntryState(key: string): string | null {
  const read = () => {
    const v: unknown = (window.history.state as Record<string, unknown> | null)?.[key];
    return typeof v === 'string' ? v : null;
  };
  return useSyncExternalStore(subscribe, read, () => null);
}

/** Replace some search params (null removes one), keeping the others; replaces the history entry by default. */
export function setSearchParams(patch: Record<string, string | null>, options: NavigateOptions = { replace: true }): void {
  const url = new URL(window.location.href);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || v === '') url.searchParams.delete(k);
    else url.searchParams.set(k, v);
  }
  navigate(url.pathname + url.search, options);
}

type LinkProps = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & { to: string };

/** An anchor that navigates without a reload; modified clicks (new tab, …) keep the browser's behaviour. */
export function Link({ to, onClick, ...rest }: LinkProps) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (rest.target && rest.target !== '_self') return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}
