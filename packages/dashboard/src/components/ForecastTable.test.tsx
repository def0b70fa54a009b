import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { forecast } from '@tether/machine';
import { fixtures } from '../test/fixtures.ts';
import { contextFromRun } from '../lib/run-snapshot.ts';
import { ForecastTable } from './ForecastTable.tsx';

const rows = () =>
  within(screen.getByRole('table'))
    .getAllByRole('row')
    .slice(1)
    .map((r) => [...r.querySelectorAll('th, td')].map((c) => c.textContent));

describe('ForecastTable', () => {
  it('before launch: every attempt’s worst-case deadline, the backoff gaps and when the run gives up', () => {
    const start = Date.parse('2026-03-02T12:00:00.000Z');
    const f = forecast({ target: { url: 'http://x' }, timeoutSeconds: 10, retryLimit: 2, backoff: { initialSeconds: 2 } }, { startAt: start });
    render(<ForecastTable forecast={f} origin={start} caption="Forecast" />);
    expect(rows()).toEqual([
      ['1', '—', '12:00:00 +0 ms', '12:00:10 +10.0 s'],
      ['2', '2.0 s', '12:00:12 +12.0 s', '12:00:22 +22.0 s'],
      ['3', '4.0 s', '12:00:26 +26.0 s', '12:00:36 +36.0 s'],
    ]);
    expect(screen.getByTestId('forecast-summary').textContent).toBe(
      'If no callback ever arrives, the run gives up at 12:00:36 (+36.0 s) after 3 attempts, stopped by the retry limit.',
    );
  });

  it('says when the run deadline, not the retry limit, stops it', () => {
    const start = Date.parse('2026-03-02T12:00:00.000Z');
    const f = forecast(
      { target: { url: 'http://x' }, timeoutSeconds: 10, retryLimit: 5, backoff: { initialSeconds: 2 }, deadlineSeconds: 30 },
      { startAt: start },
    );
    render(<ForecastTable forecast={f} origin={start} caption="Forecast" />);
    // Attempt 3 starts at +26 s and is cut short by the deadline at +30 s; attempt 4 would start after it.
    expect(rows().map((r) => r[3])).toEqual(['12:00:10 +10.0 s', '12:00:22 +22.0 s', '12:00:30 +30.0 s']);
    expect(screen.getByTestId('forecast-summary').textContent).toContain('stopped by the run deadline');
  });

  it('for a live run: starts from the attempt that is waiting now', () => {
    const { run } = fixtures.waiting;
    const f = forecast(run.config, { context: contextFromRun(run) }, run.id);
    render(<ForecastTable forecast={f} origin={Date.parse(run.createdAt)} caption="Forecast" />);
    const table = rows();
    expect(table.map((r) => r[0])).toEqual(['2 (now)', '3', '4']);
    // Attempt 2 times out at its stored timeoutDue; attempt 3 follows after a 10 s backoff (5 s × 2).
    expect(table[0]![3]).toBe(`09:00:43 +43.0 s`);
    expect(table[1]![1]).toBe('10.0 s');
    expect(table[1]![2]).toBe('09:00:53 +53.0 s');
  });

  it('has nothing to forecast once nothing remains', () => {
    render(<ForecastTable forecast={{ attempts: [], givesUpAt: 0, stopsBecause: 'retryLimit' }} origin={0} caption="Forecast" />);
    expect(screen.getByText(/No attempts remain/)).toBeTruthy();
  });
});
