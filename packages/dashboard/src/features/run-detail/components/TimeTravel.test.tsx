import { fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { StreamConnection } from '../../../lib/stream/useStream.ts';
import { formatTime } from '../../../lib/time.ts';
import { allFixtures, fixtures, serverFixtures, type RunFixture } from '../../../test/fixtures.ts';
import { RunView } from './RunPage.tsx';

const live: StreamConnection = { status: 'live', failures: 0, nextRetryAt: null, lastClose: null, restarts: [], bootId: 'b1', retryNow: () => {} };

function show(f: RunFixture) {
  const utils = render(<RunView run={f.run} events={f.events} now={f.now} connection={live} onRun={() => {}} />);
  const slider = screen.getByRole('slider', { name: 'Time travel' }) as HTMLInputElement;
  const currentState = () => utils.container.querySelector<SVGElement>('[aria-current="step"][data-state-id]')?.dataset.stateId;
  const attemptStates = () => {
    const table = screen.queryByRole('table', { name: 'Attempts' });
    return table
      ? within(table)
          .getAllByRole('row')
          .slice(1)
          .map((r) => r.querySelector('td:nth-child(6)')!.textContent)
      : [];
  };
  const moveTo = (index: number) => fireEvent.change(slider, { target: { value: String(index) } });
  return { ...utils, slider, currentState, attemptStates, moveTo };
}

const banner = () => screen.queryByText(/^Viewing history at/)?.closest('p') ?? null;

describe('time travel (the scrubber over the run’s event log)', () => {
  it('starts live, on the last entry, with step buttons and an accessible value', () => {
    const { slider, currentState } = show(fixtures.seed);
    expect(slider.value).toBe(String(fixtures.seed.events.length - 1));
    expect(slider.max).toBe(String(fixtures.seed.events.length - 1));
    expect(slider.getAttribute('aria-valuetext')).toBe('Event 10 of 10: #9 callback → succeeded at 09:00:16.000 UTC (live)');
    expect(banner()).toBeNull();
    expect(currentState()).toBe('succeeded');
    expect((screen.getByRole('button', { name: 'Next event' }) as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByRole('button', { name: 'Previous event' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('at attempt 1’s timeout: the diagram, what can happen next and the attempts table show that instant, clearly marked', () => {
    const f = fixtures.seed;
    const index = f.events.findIndex((e) => e.type.startsWith('xstate.after.attemptTimeout'));
    const { moveTo, currentState, attemptStates, container } = show(f);
    moveTo(index);

    expect(banner()?.textContent).toBe(
      `Viewing history at ${formatTime(Date.parse(f.events[index]!.at), f.now, { ms: true })} (after event ${index + 1} of ${f.events.length}) — back to live`,
    );
    expect(banner()?.textContent).toContain('09:00:10.035 UTC');
    // The readout names the entry in plain words; its raw type is the tooltip.
    expect(screen.getByTestId('time-travel-readout').textContent).toBe('09:00:10.035 UTC #3 attempt 1 timed out → retrying');
    expect(container.querySelector('[data-viewing]')?.getAttribute('data-viewing')).toBe('history');

    // The machine was backing off after attempt 1, not finished.
    expect(currentState()).toBe('retrying');
    expect(container.querySelector<SVGElement>('[data-state-id="succeeded"]')!.dataset.active).toBe('false');
    expect(container.querySelector<SVGElement>('[data-edge-source="retrying"][data-edge-target="attempt"]')!.dataset.live).toBe('true');

    // What could happen then: the backoff timer 2 s ahead of that instant, and retry now.
    const next = container.querySelector<HTMLElement>('.next-steps')!;
    const backoff = next.querySelector<HTMLElement>('[data-event-type^="xstate.after.retryBackoff"]')!;
    expect(within(backoff).getByRole('timer').textContent).toBe('in 0:02');
    expect(next.querySelector('[data-event-type="run.retryNow"][data-accepted="true"]')).toBeTruthy();

    // One attempt, timed out; the second had not started.
    expect(attemptStates()).toEqual(['TimedOut']);
    expect(screen.getByTestId('time-travel-cursor')).toBeTruthy();
    expect(screen.getByRole('row', { current: true }).dataset.seq).toBe(String(f.events[index]!.seq));
  });

  it('steps one entry at a time, and going past the last entry (or “back to live”) returns to the run now', () => {
    const f = fixtures.seed;
    const { moveTo, currentState, attemptStates, slider } = show(f);
    moveTo(0);
    expect(currentState()).toBe('idle');
    expect(screen.getByText('No attempts yet.')).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Previous event' }) as HTMLButtonElement).disabled).toBe(true);

    fireEvent.click(screen.getByRole('button', { name: 'Next event' }));
    expect(currentState()).toBe('triggering');
    expect(attemptStates()).toEqual(['Triggering']);
    fireEvent.click(screen.getByRole('button', { name: 'Next event' }));
    expect(currentState()).toBe('awaitingCallback');
    expect(attemptStates()).toEqual(['AwaitingCallback']);

    fireEvent.click(screen.getByRole('button', { name: 'back to live' }));
    expect(banner()).toBeNull();
    expect(slider.value).toBe(String(f.events.length - 1));
    expect(currentState()).toBe('succeeded');
    expect(attemptStates()).toEqual(['TimedOut', 'CallbackSuccess']);

    moveTo(f.events.length - 2);
    expect(banner()).not.toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Next event' }));
    expect(banner()).toBeNull();
  });

  it('the event log travels too: its entry numbers open the run as it was after them', () => {
    const f = fixtures.waiting;
    const { currentState, slider } = show(f);
    fireEvent.click(screen.getByRole('button', { name: 'View the run as it was after event 2' }));
    expect(slider.value).toBe('2');
    expect(currentState()).toBe('awaitingCallback');
    expect(banner()?.textContent).toContain(formatTime(Date.parse(f.events[2]!.at), f.now, { ms: true }));
  });

  it.each([...serverFixtures, ...allFixtures].map((f) => [f.name, f] as const))(
    '%s: at every entry the diagram shows the state the server recorded after it',
    (_n, f) => {
      const { moveTo, currentState } = show(f);
      f.events.forEach((e, i) => {
        moveTo(i);
        if (e.stateAfter !== undefined) expect(currentState(), `#${e.seq} ${e.type}`).toBe(e.stateAfter);
      });
    },
  );
});
