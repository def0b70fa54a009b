/**
 * The created-range inputs are `datetime-local` (a person picks a local date and time); the URL and the API hold the
 * instant as ISO. These convert between the two in this browser's time zone.
 */

const pad = (n: number) => String(n).padStart(2, '0');

/** `2026-03-02T09:00` (local) for an ISO instant; '' for none. */
export function toLocalInput(iso: string | null): string {
  const ms = iso ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(ms)) return '';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The instant a `datetime-local` value names here, as ISO; null when empty or unreadable (a half-typed value). */
export function fromLocalInput(value: string): string | null {
  // Without a zone designator, a date-time string is read as local time.
  const ms = value ? new Date(value).getTime() : Number.NaN;
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}
