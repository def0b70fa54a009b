import type { Forecast } from '@tether/machine';
import { formatClock, formatDuration, formatOffset } from '../lib/time.ts';

/**
 * The retry forecast from the shared `forecast()`: every remaining attempt waiting its whole timeout, the backoff
 * before each, and when the run gives up if no callback ever arrives. `origin` is the instant offsets count from
 * (launch time, or the run's creation).
 */
export function ForecastTable({ forecast, origin, caption }: { forecast: Forecast; origin: number; caption: string }) {
  if (forecast.attempts.length === 0) {
    return <p className="muted">No attempts remain: the run is final.</p>;
  }
  const why = forecast.stopsBecause === 'deadline' ? 'the run deadline' : 'the retry limit';
  return (
    <div className="forecast">
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
                {a.number}
                {a.current ? <span className="muted small"> (now)</span> : null}
              </th>
              <td className="num">{a.number === 1 || a.current ? '—' : formatDuration(a.gapBeforeMs)}</td>
              <td className="num">
                {formatClock(a.startsAt)} <span className="muted offset">{formatOffset(a.startsAt - origin)}</span>
              </td>
              <td className="num">
                {formatClock(a.timeoutDue)} <span className="muted offset">{formatOffset(a.timeoutDue - origin)}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="forecast-summary" data-testid="forecast-summary">
        If no callback ever arrives, the run gives up at <strong className="num">{formatClock(forecast.givesUpAt)}</strong>{' '}
        <span className="muted num">({formatOffset(forecast.givesUpAt - origin)})</span> after {forecast.attempts.length}{' '}
        {forecast.attempts.length === 1 ? 'attempt' : 'attempts'}, stopped by {why}.
      </p>
    </div>
  );
}
