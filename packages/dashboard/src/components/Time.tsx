import { formatAgo, formatTimeParts, isoOf } from '../lib/time.ts';

// Inline, so the component needs no stylesheet of a page: date and clock each stay on one line, and a narrow cell
// breaks between them rather than between a time and its zone.
const ONE_LINE = { whiteSpace: 'nowrap' } as const;

/**
 * An instant as people read it: local time with the zone named (`14:03:07 CET`, with the date when not today), the
 * exact ISO instant in its tooltip and `dateTime`. `ago` adds "· 3 min ago" for past instants, where the distance is
 * what matters (header facts, heartbeats).
 */
export function Time({ at, now, ms = false, ago = false }: { at: number; now: number; ms?: boolean; ago?: boolean }) {
  const iso = isoOf(at);
  const { date, clock } = formatTimeParts(at, now, { ms });
  return (
    <time className="num" dateTime={iso} title={iso}>
      {date !== null ? <span style={ONE_LINE}>{date},</span> : null}
      {date !== null ? ' ' : null}
      <span style={ONE_LINE}>{clock}</span>
      {ago && at <= now ? (
        <span className="muted" style={ONE_LINE}>
          {' '}
          · {formatAgo(at, now)}
        </span>
      ) : null}
    </time>
  );
}
