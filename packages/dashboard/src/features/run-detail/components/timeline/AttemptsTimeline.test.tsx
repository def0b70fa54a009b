import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { fixtures } from '../../../../test/fixtures.ts';
import { AttemptsTimeline } from './AttemptsTimeline.tsx';
import { layoutTimeline, pct } from './layout.ts';

const rows = () => within(screen.getByRole('list', { name: 'Attempts' })).getAllByRole('listitem');
const lane = () => within(screen.getByRole('list', { name: 'Callback lane' })).queryAllByRole('listitem');

describe('AttemptsTimeline — seed scenario (attempt 1 times out, attempt 2 succeeds)', () => {
  const { run, events, now } = fixtures.seed;

  it('draws one row per attempt with its outcome, and how late the timeout fired', () => {
    render(<AttemptsTimeline run={run} events={events} now={now} />);
    const [first, second] = rows();
    expect(rows()).toHaveLength(2);
    expect(first!.dataset.state).toBe('TimedOut');
    expect(second!.dataset.state).toBe('CallbackSuccess');
    expect(within(first!).getByTestId('lateness-1').textContent).toBe('fired +35 ms late');
    expect(within(second!).queryByTestId('lateness-2')).toBeNull();
    // A finished run has nothing to count down to.
    expect(screen.queryByRole('timer')).toBeNull();
  });

  it('draws the grey backoff gap between the attempts, with its length', () => {
    render(<AttemptsTimeline run={run} events={events} now={now} />);
    const gap = screen.getByTestId('backoff-before-2');
    expect(gap.textContent).toBe('backoff 2.0 s');
    const tl = layoutTimeline(run, events, now);
    const a1End = Date.parse(run.attempts[0]!.endedAt!);
    expect(gap.style.left).toBe(`${pct(a1End, tl)}%`);
    expect(screen.queryByTestId('backoff-before-1')).toBeNull();
  });

  it('puts every callback on the lane with its verdict and the HTTP status Tether answered', () => {
    render(<AttemptsTimeline run={run} events={events} now={now} />);
    const marks = lane();
    expect(marks.map((m) => [m.dataset.verdict, m.dataset.httpStatus])).toEqual([
      ['late', '410'],
      ['applied', '200'],
      ['duplicate', '200'],
      ['conflict', '409'],
    ]);
    expect(marks[0]!.getAttribute('aria-label')).toMatch(/^callback for attempt 1 at .*: 410 late/);
    expect(marks[1]!.getAttribute('aria-label')).toMatch(/callback for attempt 2 .*: 200 accepted/);
  });

  it('stacks callbacks that arrive close together instead of drawing them on top of each other', () => {
    const marks = layoutTimeline(run, events, now).callbacks;
    // accepted (15.5 s), duplicate (15.8 s) and conflict (16 s) are within a few percent of the axis.
    expect(new Set(marks.slice(1).map((m) => m.level)).size).toBe(3);
  });
});

describe('AttemptsTimeline — live run after a server restart', () => {
  const { run, events, now } = fixtures.waiting;

  it('counts down to the open attempt’s deadline, in a fixed-width timer', () => {
    const { rerender } = render(<AttemptsTimeline run={run} events={events} now={now} />);
    const timer = screen.getByRole('timer');
    expect(timer.textContent).toBe('in 0:01');
    expect(timer.className).toContain('countdown');
    rerender(<AttemptsTimeline run={run} events={events} now={now + 2_000} />);
    // Same element, new text: ticking does not remount (or move) anything.
    expect(screen.getByRole('timer')).toBe(timer);
    expect(timer.textContent).toBe('0:01 overdue');
  });

  it('marks the restart with the timer re-armed and the time it had left', () => {
    render(<AttemptsTimeline run={run} events={events} now={now} />);
    const restarts = within(screen.getByRole('list', { name: 'Server restarts' })).getAllByRole('listitem');
    expect(restarts).toHaveLength(1);
    expect(restarts[0]!.textContent).toContain('attempt 2 timer re-armed with 1840 ms left');
  });

  it('shows the refused forged callback and the accepted failure on the lane', () => {
    render(<AttemptsTimeline run={run} events={events} now={now} />);
    const marks = lane();
    expect(marks.map((m) => m.dataset.verdict)).toEqual(['applied', 'unauthorized']);
    expect(marks[1]!.getAttribute('aria-label')).toContain('401 bad signature');
  });

  it('keeps the open attempt’s deadline on the axis so the scale does not change every tick', () => {
    const a = layoutTimeline(run, events, now);
    const b = layoutTimeline(run, events, now + 500);
    expect(a.end).toBe(b.end);
    expect(a.end).toBeGreaterThan(Date.parse(run.attempts[1]!.timeoutDue));
  });

  it('adds a restart this page saw on the stream only when the log has none near it', () => {
    const logged = Date.parse(events.find((e) => e.type === 'server.recovered')!.at);
    const near = layoutTimeline(run, events, now, [{ at: logged - 2_000, label: 'seen', origin: 'stream' }]);
    expect(near.restarts.map((r) => r.origin)).toEqual(['log']);
    const far = layoutTimeline(run, events, now, [{ at: Date.parse(run.createdAt) + 5_000, label: 'seen', origin: 'stream' }]);
    expect(far.restarts.map((r) => r.origin)).toEqual(['stream', 'log']);
  });
});

describe('AttemptsTimeline — in backoff', () => {
  const { run, events, now } = fixtures.backoff;

  it('shows the next attempt as a pending row that counts down to its start', () => {
    render(<AttemptsTimeline run={run} events={events} now={now} />);
    const pending = rows()[2]!;
    expect(pending.dataset.attempt).toBe('3');
    expect(within(pending).getByRole('timer').textContent).toBe('in 0:46');
    expect(within(pending).getByTestId('backoff-before-3').textContent).toBe('backoff 1 m 00 s');
  });

  it('draws a failed trigger in the danger tone and no waiting bar for it', () => {
    render(<AttemptsTimeline run={run} events={events} now={now} />);
    expect(screen.getByTestId('trigger-1').className).toContain('tone-bg-danger');
    expect(screen.queryByTestId('waiting-1')).toBeNull();
    expect(screen.getByTestId('waiting-2')).toBeTruthy();
  });

  it('says so when no callback arrived', () => {
    render(<AttemptsTimeline run={run} events={events} now={now} />);
    expect(screen.getByText('No callback received yet.')).toBeTruthy();
  });
});

describe('AttemptsTimeline — every attempt timed out', () => {
  it('reports each timer’s own lateness', () => {
    const { run, events, now } = fixtures.exhausted;
    render(<AttemptsTimeline run={run} events={events} now={now} />);
    expect([1, 2, 3].map((n) => screen.getByTestId(`lateness-${n}`).textContent)).toEqual([
      'fired +3 ms late',
      'fired +41 ms late',
      'fired +7 ms late',
    ]);
  });
});
