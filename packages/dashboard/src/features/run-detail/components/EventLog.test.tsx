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

  it('names each event in plain words, the raw type only in its tooltip and in the detail one opens', () => {
    const f = fixtures.exhausted;
    const { container } = render(<EventLog run={f.run} events={f.events} now={f.now} />);
    const cells = rows().map(typeCell);
    expect(cells.map((c) => c.textContent)).toEqual([
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
    expect(rows()[3]!.dataset.type).toBe('xstate.after.attemptTimeout.run.attempt.awaitingCallback');
    expect(container.textContent).not.toContain('xstate.');

    // Opening the entry's detail shows the raw type and the exact machine event.
    const details = rows()[3]!.querySelector('details')!;
    details.open = true;
    fireEvent(details, new Event('toggle'));
    expect(details.querySelector('code')!.textContent).toBe('xstate.after.attemptTimeout.run.attempt.awaitingCallback');
    expect(JSON.parse(details.querySelector('pre')!.textContent!)).toEqual(f.events[3]!.event);
  });

  it('shows each entry’s time to the millisecond, in local time with the zone named', () => {
    const f = fixtures.exhausted;
    render(<EventLog run={f.run} events={f.events} now={f.now} />);
    const time = rows()[3]!.querySelector('time')!;
    expect(time.textContent).toBe('09:00:05.003 UTC');
    expect(time.getAttribute('dateTime')).toBe(f.events[3]!.at);
  });

  it('filters by plain name: one choice per name, whichever raw types it covers', () => {
    const f = fixtures.seed;
    render(<EventLog run={f.run} events={f.events} now={f.now} />);
    const select = screen.getByLabelText('Event type') as HTMLSelectElement;
    const option = within(select).getByRole('option', { name: /^callback \(/ }) as HTMLOptionElement;
    expect(option.textContent).toBe('callback (4)');
    expect(option.title).toBe('callback.received');
    fireEvent.change(select, { target: { value: option.value } });
    expect(rows().map((r) => r.dataset.type)).toEqual(Array(4).fill('callback.received'));
    expect(rows().map((r) => typeCell(r).textContent)).toEqual(Array(4).fill('callback'));
    expect(select.textContent).not.toContain('xstate.');
  });

  it('says each verdict in the API’s own word', () => {
    const f = fixtures.seed;
    render(<EventLog run={f.run} events={f.events} now={f.now} />);
    const verdicts = rows().map((r) => r.querySelector('.badge')!.textContent);
    expect(verdicts).toContain('200 applied');
    expect(verdicts).toContain('410 late');
    expect(verdicts.join(' ')).not.toMatch(/accepted/);
  });
});
