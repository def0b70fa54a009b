import type { Forecast } from '@tether/machine';
import { formatDuration, formatOffset, formatTime } from '../lib/time.ts';
import { Time } from './Time.tsx';

const attempts = (n: number) => `${n} ${n === 1 ? 'attempt' : 'attempts'}`;

/** The attempts the run never starts when the deadline stops it early: `attempt 6 never starts`, `attempts 4 to 6 never start`. */
function notStarted(lastNumber: number, maxAttempts: number): string {
  const first = lastNumber + 1;
  if (first > maxAttempts) return '';
  return first === maxAttempts ? ` (attempt ${first} never starts)` : ` (attempts ${first} to ${maxAttempts} never start)`;
}

/** Counts said against the total, so "3" never reads as "3 more": attempt 4 of 4, 2 attempts left of 4. */
export function forecastSummary(forecast: Forecast, maxAttempts: number, origin: number, now: number): string {
  const last = forecast.attempts[forecast.attempts.length - 1];
  if (!last) return 'No attempts remain: the run is final.';
  const current = forecast.attempts.find((a) => a.current);
  const lead = current
    ? `Attempt ${current.number} of ${maxAttempts} is waiting now, ${attempts(maxAttempts - current.number)} left of ${maxAttempts}. `
    : '';
  const why = forecast.stopsBecause === 'deadline' ? `the run deadline${notStarted(last.number, maxAttempts)}` : 'the retry limit';
  return `${lead}If no callback ever arrives, the run gives up at ${formatTime(forecast.givesUpAt, now)} (${formatOffset(forecast.givesUpAt - origin)}) after attempt ${last.number} of ${maxAttempts}, stopped by ${why}.`;
}

function When({ at, origin, now }: { at: number; origin: number; now: number }) {
  return (
    <>
      <Time at={at} now={now} /> <span className="muted offset">{formatOffset(at - origin)}</span>
    </>
  );
}

/**
 * The retry forecast from the shared `forecast()`: every remaining attempt waiting its whole timeout, the backoff
 * before each, and when the run gives up if no callback ever arrives. `origin` is the instant offsets count from
 * (launch time, or the run's creation); `maxAttempts` (1 + retryLimit) is what every count is said against.
 */
export function ForecastTable({
  forecast,
  maxAttempts,
  origin,
  now,
  caption,
}: {
  forecast: Forecast;
  maxAttempts: number;
  origin: number;
  now: number;
  caption: string;
}) {
  if (forecast.attempts.length === 0) {
    return <p className="muted">No attempts remain: the run is final.</p>;
  }
  return (
    <div className="forecast">
      <div className="table-scroll">
        <table className="table table-compact" aria-label={caption}>
          <caption className="sr-only">{caption}</caption>
          <thead>
            <tr>
              <th scope="col">Attempt</th>
              <th scope="col">Backoff before</th>
              <th scope="col">Starts</th>
              <th scope="col">Times out if no callback</th>
            </tr>
          </thead>
          <tbody>
            {forecast.attempts.map((a) => (
              <tr key={a.number} data-forecast-attempt={a.number} className={a.current ? 'row-current' : undefined}>
                <th scope="row" className="num">
                  {a.number} of {maxAttempts}
                  {a.current ? <span className="muted small"> (now)</span> : null}
                </th>
                <td className="num">{a.number === 1 || a.current ? '—' : formatDuration(a.gapBeforeMs)}</td>
                <td className="num">
                  <When at={a.startsAt} origin={origin} now={now} />
                </td>
                <td className="num">
                  <When at={a.timeoutDue} origin={origin} now={now} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="forecast-summary" data-testid="forecast-summary">
        {forecastSummary(forecast, maxAttempts, origin, now)}
      </p>
    </div>
  );
}
