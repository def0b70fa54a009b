import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { forecast } from '@tether/machine';
import { fixtures } from '../test/fixtures.ts';
import { liveSnapshot } from '../lib/run-snapshot.ts';
import { ForecastTable, forecastSummary } from './ForecastTable.tsx';

const rows = () =>
  within(screen.getByRole('table'))
    .getAllByRole('row')
    .slice(1)
    .map((r) => [...r.querySelectorAll('th, td')].map((c) => c.textContent));

// The tests run with TZ=UTC (vitest.config.ts): local time is UTC, and named so.
describe('ForecastTable', () => {
  const start = Date.parse('2026-03-02T12:00:00.000Z');

  it('before launch: every attempt’s worst-case deadline, the backoff gaps and when the run gives up', () => {
    const f = forecast({ target: { url: 'http://x' }, timeoutSeconds: 10, retryLimit: 2, backoff: { initialSeconds: 2 } }, { startAt: start });
    render(<ForecastTable forecast={f} maxAttempts={3} origin={start} now={start} caption="Forecast" />);
    expect(rows()).toEqual([
      ['1 of 3', '—', '12:00:00 UTC +0 ms', '12:00:10 UTC +10.0 s'],
      ['2 of 3', '2.0 s', '12:00:12 UTC +12.0 s', '12:00:22 UTC +22.0 s'],
      ['3 of 3', '4.0 s', '12:00:26 UTC +26.0 s', '12:00:36 UTC +36.0 s'],
    ]);
    // "after 3 attempts" could be read as 3 more: the count is said against the total.
    expect(screen.getByTestId('forecast-summary').textContent).toBe(
      'If no callback ever arrives, the run gives up at 12:00:36 UTC (+36.0 s) after attempt 3 of 3, stopped by the retry limit.',
    );
  });

  it('says when the run deadline, not the retry limit, stops it, and which attempts never start', () => {
    const f = forecast(
      { target: { url: 'http://x' }, timeoutSeconds: 10, retryLimit: 5, backoff: { initialSeconds: 2 }, deadlineSeconds: 30 },
      { startAt: start },
    );
    render(<ForecastTable forecast={f} maxAttempts={6} origin={start} now={start} caption="Forecast" />);
    // Attempt 3 starts at +26 s and is cut short by the deadline at +30 s; attempt 4 would start after it.
    expect(rows().map((r) => r[3])).toEqual(['12:00:10 UTC +10.0 s', '12:00:22 UTC +22.0 s', '12:00:30 UTC +30.0 s']);
    expect(screen.getByTestId('forecast-summary').textContent).toBe(
      'If no callback ever arrives, the run gives up at 12:00:30 UTC (+30.0 s) after attempt 3 of 6, stopped by the run deadline (attempts 4 to 6 never start).',
    );
  });

  it('for a live run: starts from the attempt that is waiting now, and says how many are left of the total', () => {
    const { run, events } = fixtures.waiting;
    const f = forecast(run.config, { context: liveSnapshot(run, events).snapshot.context }, run.id);
    render(
      <ForecastTable forecast={f} maxAttempts={run.maxAttempts} origin={Date.parse(run.createdAt)} now={fixtures.waiting.now} caption="Forecast" />,
    );
    const table = rows();
    expect(table.map((r) => r[0])).toEqual(['2 of 4 (now)', '3 of 4', '4 of 4']);
    // Attempt 2 times out at its stored timeoutDue; attempt 3 follows after a 10 s backoff (5 s × 2).
    expect(table[0]![3]).toBe(`09:00:43 UTC +43.0 s`);
    expect(table[1]![1]).toBe('10.0 s');
    expect(table[1]![2]).toBe('09:00:53 UTC +53.0 s');
    expect(screen.getByTestId('forecast-summary').textContent).toMatch(
      /^Attempt 2 of 4 is waiting now, 2 attempts left of 4\. If no callback ever arrives, the run gives up at .* after attempt 4 of 4, stopped by the retry limit\.$/,
    );
  });

  it('names the date of an instant that is not today', () => {
    const f = forecast({ target: { url: 'http://x' }, timeoutSeconds: 10, retryLimit: 0 }, { startAt: start });
    expect(forecastSummary(f, 1, start, start + 86_400_000)).toBe(
      'If no callback ever arrives, the run gives up at 2 Mar, 12:00:10 UTC (+10.0 s) after attempt 1 of 1, stopped by the retry limit.',
    );
  });

  it('has nothing to forecast once nothing remains', () => {
    render(
      <ForecastTable forecast={{ attempts: [], givesUpAt: 0, stopsBecause: 'retryLimit' }} maxAttempts={3} origin={0} now={0} caption="Forecast" />,
    );
    expect(screen.getByText(/No attempts remain/)).toBeTruthy();
  });
});
