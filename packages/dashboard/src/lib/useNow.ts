import { useEffect, useState } from 'react';

/**
 * The current time, re-read every `intervalMs` on the interval's boundary (so every countdown on the page ticks
 * together). Components below take `now` as a prop: tests pass a fixed instant, pages pass this.
 */
export function useNow(intervalMs = 1000, enabled = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!enabled) return;
    let timer: ReturnType<typeof setTimeout>;
    const tick = () => {
      const t = Date.now();
      setNow(t);
      timer = setTimeout(tick, intervalMs - (t % intervalMs));
    };
    timer = setTimeout(tick, intervalMs - (Date.now() % intervalMs));
    return () => clearTimeout(timer);
  }, [intervalMs, enabled]);
  return now;
}
