/** Formatting of instants and durations. Every output has a stable width for a given magnitude (tabular-nums in CSS). */

const pad = (n: number, w = 2) => String(Math.trunc(n)).padStart(w, '0');

/** `09:00:12` in local time. */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `09:00:12.035` in local time: where milliseconds matter (timer lateness, event order). */
export function formatClockMs(ms: number): string {
  return `${formatClock(ms)}.${pad(new Date(ms).getMilliseconds(), 3)}`;
}

/** `2026-03-02 09:00:12` in local time. */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(ms)}`;
}

/** A readable duration: `850 ms`, `12.4 s`, `3 m 05 s`, `2 h 04 m`. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  const sign = ms < 0 ? '−' : '';
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(1)} s`;
  if (abs < 3_600_000) return `${sign}${Math.floor(abs / 60_000)} m ${pad((abs % 60_000) / 1000)} s`;
  return `${sign}${Math.floor(abs / 3_600_000)} h ${pad((abs % 3_600_000) / 60_000)} m`;
}

/** A countdown clock `0:07`, `12:03`, `1:02:03`, rounded up so it reaches 0:00 exactly at the instant. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(Math.abs(ms) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** `+12.0 s` from a reference instant. */
export const formatOffset = (ms: number): string => (ms < 0 ? formatDuration(ms) : `+${formatDuration(ms)}`);

export const parseTime = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) : null);
