import { fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { fixtures } from '../../../test/fixtures.ts';
import { EventLog } from './EventLog.tsx';

describe('EventLog', () => {
  const rows = () =>
    within(screen.getByRole('table', { name: 'Event log' }))
      .getAllByRole('row')
      .slice(1);
  const typeCell = (row: HTMLElement) => row.querySelector<HTMLElement>('[data-event-type]')!;

  it('names each event in plain words and keeps the raw type', () => {
    const f = fixtures.exhausted;
    render(<EventLog run={f.run} events={f.events} />);
    const cells = rows().map(typeCell);
    expect(cells.map((c) => c.querySelector('.event-name')!.textContent)).toEqual([
      'run created',
      'run started',
      'trigger answered',
      'attempt 1 timed out',
      'backoff ended',
      'trigger answered',
      'attempt 2 timed out',
      'backoff ended',
      'trigger answered',
      'attempt 3 timed out',
    ]);
    const timeout = cells[3]!;
    expect(timeout.dataset.eventType).toBe('xstate.after.attemptTimeout.run.attempt.awaitingCallback');
    expect(timeout.title).toBe('xstate.after.attemptTimeout.run.attempt.awaitingCallback');
    expect(timeout.querySelector('code')!.textContent).toBe('xstate.after.attemptTimeout.run.attempt.awaitingCallback');
    expect(rows()[3]!.dataset.type).toBe('xstate.after.attemptTimeout.run.attempt.awaitingCallback');
  });

  it('filters by raw type, with plain words in the choices', () => {
    const f = fixtures.seed;
    render(<EventLog run={f.run} events={f.events} />);
    const select = screen.getByLabelText('Event type') as HTMLSelectElement;
    const option = within(select).getByRole('option', { name: /^callback · callback.received/ }) as HTMLOptionElement;
    expect(option.textContent).toBe('callback · callback.received (4)');
    fireEvent.change(select, { target: { value: option.value } });
    expect(rows().map((r) => r.dataset.type)).toEqual(Array(4).fill('callback.received'));
    expect(rows().map((r) => typeCell(r).querySelector('.event-name')!.textContent)).toEqual(Array(4).fill('callback'));
  });
});
