import { useLayoutEffect, useState, type RefObject } from 'react';

/**
 * The content width of an element, px, kept current as it resizes; null until measured (and where ResizeObserver is
 * missing, as in jsdom), so callers fall back to a default.
 */
export function useElementWidth(ref: RefObject<HTMLElement | null>): number | null {
  const [width, setWidth] = useState<number | null>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    // Whole pixels: sub-pixel jitter would re-lay the timeline out for nothing.
    const read = () => setWidth(Math.round(el.getBoundingClientRect().width) || null);
    read();
    const observer = new ResizeObserver(read);
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref]);
  return width;
}
