import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Run } from '@tether/machine/protocol';
import { fixtures } from '../../../test/fixtures.ts';
import { AttemptsTable } from './AttemptsTable.tsx';

describe('AttemptsTable', () => {
  it('shows an attempt’s output and progress, collapsed, beside its message', () => {
    const base = fixtures.waiting.run;
    const run: Run = {
      ...base,
      attempts: [
        { ...base.attempts[0]!, output: { rows: 3 } },
        { ...base.attempts[1]!, progress: { percent: 40 } },
      ],
    };
    render(<AttemptsTable run={run} now={fixtures.waiting.now} />);
    const rows = within(screen.getByRole('table', { name: 'Attempts' }))
      .getAllByRole('row')
      .slice(1);
    const first = rows[0]!.querySelector('details')!;
    expect(first.open).toBe(false);
    expect(first.querySelector('summary')!.textContent).toBe('output (3 lines)');
    expect(within(rows[0]!).getByLabelText('output').textContent).toBe(JSON.stringify({ rows: 3 }, null, 2));
    expect(within(rows[1]!).getByLabelText('progress').textContent).toBe(JSON.stringify({ percent: 40 }, null, 2));
    expect(rows[1]!.querySelector('td:nth-child(6)')!.textContent).toBe('AwaitingCallback');
  });

  it('shows each time in local time with the zone named, the exact instant in its tooltip', () => {
    const f = fixtures.exhausted;
    render(<AttemptsTable run={f.run} now={f.now} />);
    const cell = within(screen.getByRole('table', { name: 'Attempts' }))
      .getAllByRole('row')[1]!
      .querySelector('td:nth-child(3) time')!;
    expect(cell.textContent).toBe('09:00:00 UTC');
    expect(cell.getAttribute('title')).toBe(f.run.attempts[0]!.started);
    // Seen on another day, the date is part of it.
    render(<AttemptsTable run={f.run} now={f.now + 2 * 86_400_000} />);
    expect(screen.getAllByRole('table', { name: 'Attempts' })[1]!.querySelector('td:nth-child(3) time')!.textContent).toBe('2 Mar, 09:00:00 UTC');
  });

  it('shows no JSON for attempts without output or progress', () => {
    render(<AttemptsTable run={fixtures.exhausted.run} now={fixtures.exhausted.now} />);
    expect(screen.getByRole('table', { name: 'Attempts' }).querySelector('details')).toBeNull();
  });
});
