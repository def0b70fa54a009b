import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { fixtures, serverFixtures } from '../../../test/fixtures.ts';
import { ResultPanel, runResult } from './ResultPanel.tsx';

/** The fixtures are looked at on the day they were recorded. */
const NOW = fixtures.seed.now;

describe('ResultPanel', () => {
  it('a running run has no result yet', () => {
    render(<ResultPanel run={fixtures.waiting.run} events={fixtures.waiting.events} now={NOW} />);
    expect(screen.getByText(/^No result yet/)).toBeTruthy();
  });

  it('a succeeded run: the accepted attempt, its message and who settled it (the callback)', () => {
    render(<ResultPanel run={fixtures.seed.run} events={fixtures.seed.events} now={NOW} />);
    expect(screen.getByTestId('result-outcome').textContent).toBe('Succeeded on attempt 2 of 5');
    expect(screen.getByTestId('result-message').textContent).toBe('Export finished');
    const by = screen.getByTestId('result-settled-by');
    expect(by.dataset.source).toBe('callback');
    expect(by.textContent).toMatch(/^the external system’s callback \(callback, event #7 at /);
    expect(screen.getByText('none sent')).toBeTruthy();
  });

  it('shows the accepted output as pretty JSON', () => {
    const f = serverFixtures.find((s) => s.run.status === 'succeeded' && s.run.attempts.some((a) => a.output !== undefined))!;
    render(<ResultPanel run={f.run} events={f.events} now={NOW} />);
    const output = f.run.attempts.find((a) => a.isSuccess)!.output;
    expect(screen.getByLabelText('Output').textContent).toBe(JSON.stringify(output, null, 2));
  });

  it('says when an operator completed the run', () => {
    const f = fixtures.seed;
    const events: RunEventEntry[] = f.events.map((e) => (e.seq === 7 ? { ...e, source: 'operator' } : e));
    render(<ResultPanel run={f.run} events={events} now={NOW} />);
    expect(screen.getByTestId('result-settled-by').dataset.source).toBe('operator');
    expect(screen.getByTestId('result-settled-by').textContent).toMatch(/^an operator/);
  });

  it('failed runs: the reason and the last message', () => {
    render(<ResultPanel run={fixtures.exhausted.run} events={fixtures.exhausted.events} now={NOW} />);
    expect(screen.getByTestId('result-outcome').textContent).toBe('Every attempt was used: attempt 3 of 3 was the last.');
    expect(screen.getByTestId('result-message').textContent).toBe('Callback not received within 5 s.');
    expect(screen.getByTestId('result-settled-by').textContent).toMatch(/^a timer \(attempt 3 timed out/);
  });

  it('not retryable and cancelled runs', () => {
    expect(runResult(fixtures.notRetryable.run, fixtures.notRetryable.events).reason).toBe(
      'A failure callback said not to retry (retryable: false).',
    );
    render(<ResultPanel run={fixtures.cancelled.run} events={fixtures.cancelled.events} now={NOW} />);
    expect(screen.getByTestId('result-outcome').textContent).toBe('Cancelled: wrong customer');
  });

  it('a deadline failure', () => {
    const run: Run = { ...fixtures.exhausted.run, failureReason: 'deadline', exhausted: false };
    expect(runResult(run, fixtures.exhausted.events).reason).toBe('The run deadline passed.');
  });
});
