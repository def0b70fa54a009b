/**
 * Formatting of instants and durations. Every output has a stable width for a given magnitude (tabular-nums in CSS).
 *
 * Absolute times on the page go through `formatTime`: local time with the zone named (`14:03:07 CET`), the date only
 * when it is not today. The exact instant (ISO, UTC) belongs in a title or `<time dateTime>`, never beside it: two
 * clocks side by side in different zones is how people misread a deadline by an hour.
 */

const pad = (n: number, w = 2) => String(Math.trunc(n)).padStart(w, '0');

export interface ZoneOptions {
  /** IANA time zone; the browser's own when absent. Tests pass one, so they read the same on every machine. */
  timeZone?: string | undefined;
  /**
   * Locale the zone is named in: `CET` in en-GB, `EST` in en-US (each names its own zones; others as `GMT+1`). The
   * browser's when absent, so a reader sees the abbreviation they know. Digits and month names stay English.
   */
  locale?: string | undefined;
}

export interface TimeOptions extends ZoneOptions {
  /** Show milliseconds: where they matter (event order, timer lateness). */
  ms?: boolean;
}

// Intl.DateTimeFormat is costly to build and to run, and the event log formats hundreds of instants per render: a
// zone's offset and name are read from Intl once per quarter hour of time and zone (offsets change only at a zone's
// transitions, which in today's zones all fall on a quarter hour), and the clock is then plain arithmetic.
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(key: string, locale: string | undefined, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, options);
    formatters.set(key, f);
  }
  return f;
}

const QUARTER_HOUR_MS = 900_000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

interface ZoneAt {
  /** Local time minus UTC, ms. */
  offsetMs: number;
  name: string;
}
const zones = new Map<string, ZoneAt>();

function zoneAt(at: number, opts: ZoneOptions): ZoneAt {
  const tz = opts.timeZone ?? '';
  const bucket = Math.floor(at / QUARTER_HOUR_MS) * QUARTER_HOUR_MS;
  const key = `${opts.locale ?? ''}|${tz}|${bucket}`;
  let z = zones.get(key);
  if (!z) {
    const zone = opts.timeZone ? { timeZone: opts.timeZone } : {};
    const digits = formatter(`digits|${tz}`, 'en-GB', {
      ...zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    const p: Partial<Record<Intl.DateTimeFormatPartTypes, number>> = {};
    for (const part of digits.formatToParts(bucket)) if (part.type !== 'literal') p[part.type] = Number(part.value);
    const local = Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0);
    const named = formatter(`zone|${opts.locale ?? ''}|${tz}`, opts.locale, { ...zone, timeZoneName: 'short' });
    z = { offsetMs: local - bucket, name: named.formatToParts(bucket).find((part) => part.type === 'timeZoneName')?.value ?? '' };
    if (zones.size > 10_000) zones.clear();
    zones.set(key, z);
  }
  return z;
}

/** The zone's short name at that instant (`CET` in winter, `CEST` in summer), as `locale` names it. */
export const zoneName = (at: number, opts: ZoneOptions = {}): string => zoneAt(at, opts).name;

/** The wall clock of an instant in a zone, as a Date read with its UTC getters. */
const wallClock = (at: number, opts: ZoneOptions): Date => new Date(at + zoneAt(at, opts).offsetMs);

/** `formatTime` in its two parts, so a table cell can keep each on one line: the date (null when today) and the clock. */
export function formatTimeParts(at: number, now: number, opts: TimeOptions = {}): { date: string | null; clock: string } {
  const d = wallClock(at, opts);
  const today = wallClock(now, opts);
  const fraction = opts.ms ? `.${pad(d.getUTCMilliseconds(), 3)}` : '';
  const clock = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${fraction} ${zoneName(at, opts)}`.trimEnd();
  const year = d.getUTCFullYear();
  if (year === today.getUTCFullYear() && d.getUTCMonth() === today.getUTCMonth() && d.getUTCDate() === today.getUTCDate())
    return { date: null, clock };
  const date = `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
  return { date: year === today.getUTCFullYear() ? date : `${date} ${year}`, clock };
}

/**
 * `14:03:07 CET` when `at` falls on the same day as `now` (in that zone), `3 Dec, 14:03:07 CET` on another day of the
 * same year, `3 Dec 2025, 14:03:07 CET` otherwise; `14:03:07.035 CET` with `ms`. Pure: `now` and the zone are given.
 */
export function formatTime(at: number, now: number, opts: TimeOptions = {}): string {
  const { date, clock } = formatTimeParts(at, now, opts);
  return date === null ? clock : `${date}, ${clock}`;
}

/** An ISO-8601 instant in UTC as the server writes them into its sentences (`…awaiting callback until 2026-…Z.`). */
const ISO_INSTANT = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d{1,3}))?Z\b/g;

/**
 * A sentence from the server (an attempt's message, a log entry's detail, the run's overall state) with every ISO
 * instant in it written as `formatTime` writes it, so no UTC stamp stands beside the page's local times. Milliseconds
 * are kept where the instant had any.
 */
export function localizeInstants(text: string, now: number, opts: ZoneOptions = {}): string {
  return text.replace(ISO_INSTANT, (iso: string, fraction: string | undefined) => {
    const at = Date.parse(iso);
    return Number.isNaN(at) ? iso : formatTime(at, now, { ...opts, ms: fraction !== undefined && Number(fraction) !== 0 });
  });
}

/** The exact instant, for `title` and `<time dateTime>`: `2026-12-03T13:03:07.035Z`. */
export const isoOf = (at: number): string => new Date(at).toISOString();

/** `just now`, `12 s ago`, `3 min ago`, `2 h ago`, `3 days ago`: how long ago a past instant was, in round words. */
export function formatAgo(at: number, now: number): string {
  const s = Math.floor((now - at) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  const days = Math.floor(s / 86_400);
  return `${days} ${days === 1 ? 'day' : 'days'} ago`;
}

/** `in 4:58` for an instant ahead (the Countdown's words), `3 min ago` for one behind. */
export const formatRelative = (at: number, now: number): string => (at > now ? `in ${formatCountdown(at - now)}` : formatAgo(at, now));

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
