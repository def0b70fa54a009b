import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Run } from '@tether/machine/protocol';
import { fixtures } from '../../../test/fixtures.ts';
import { InputPanel } from './InputPanel.tsx';

describe('InputPanel', () => {
  it('shows the target, the retry policy in words and the payload as pretty JSON', () => {
    render(<InputPanel run={fixtures.seed.run} />);
    expect(screen.getByTestId('input-target').textContent).toBe('POST http://127.0.0.1:3000/simulator/jobs');
    expect(screen.getByTestId('retry-policy').textContent).toBe(
      'up to 5 attempts in all (4 retries), 2 s → 4 s → 8 s → 16 s backoff, 10 s timeout each',
    );
    expect(screen.getByLabelText('Payload').textContent).toBe(JSON.stringify(fixtures.seed.run.config.payload, null, 2));
    expect(screen.queryByRole('list', { name: 'Target headers' })).toBeNull();
  });

  it('lists header names with their redacted values, heartbeat and deadline, and collapses a long payload', () => {
    const base = fixtures.waiting.run;
    const run: Run = {
      ...base,
      config: {
        ...base.config,
        retryLimit: 0,
        heartbeatTimeoutSeconds: 15,
        deadlineSeconds: 120,
        target: { ...base.config.target, method: 'PUT', headers: { Authorization: '<redacted>', 'X-Tenant': '<redacted>' } },
        payload: { rows: Array.from({ length: 20 }, (_, i) => i) },
      },
    };
    const { container } = render(<InputPanel run={run} />);
    expect(screen.getByTestId('input-target').textContent).toMatch(/^PUT /);
    const headers = within(screen.getByRole('list', { name: 'Target headers' })).getAllByRole('listitem');
    expect(headers.map((h) => h.textContent)).toEqual(['Authorization: <redacted>', 'X-Tenant: <redacted>']);
    expect(screen.getByTestId('retry-policy').textContent).toBe(
      'no retries (1 attempt), 30 s timeout, heartbeat timeout 15 s, deadline 2 min after the start',
    );
    const details = container.querySelector('details')!;
    expect(details.open).toBe(false);
    expect(details.querySelector('summary')!.textContent).toBe('Payload (24 lines)');
  });
});
