import { formatCountdown, formatTime, isoOf } from '../lib/time.ts';

/**
 * A live countdown to an instant: `in 0:07`, then `0:03 overdue`. Fixed width and tabular digits, so ticking
 * never moves the layout. The instant itself (local time, zone named) is in its name and tooltip.
 */
export function Countdown({ to, now, label = 'due' }: { to: number; now: number; label?: string }) {
  const left = to - now;
  const overdue = left < 0;
  const text = overdue ? `${formatCountdown(left)} overdue` : `in ${formatCountdown(left)}`;
  const when = formatTime(to, now);
  return (
    <span
      className={`countdown num${overdue ? ' tone-text-late' : ''}`}
      role="timer"
      aria-label={`${label} at ${when}, ${overdue ? `${formatCountdown(left)} ago` : `in ${formatCountdown(left)}`}`}
      title={`${label} at ${when} (${isoOf(to)})`}
    >
      {text}
    </span>
  );
}
