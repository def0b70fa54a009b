import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { leafState, runMachine, toRun, type RunMachineEvent } from '@tether/machine';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { fixtures } from '../../../../test/fixtures.ts';
import { AttemptsTimeline } from './AttemptsTimeline.tsx';
import { LABEL_FONT, LATE_OFFSET_PX, layoutTimeline, markWidthPx, pct, textWidthPx, tickExtents, type Timeline } from './layout.ts';

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
    expect(marks[1]!.getAttribute('aria-label')).toMatch(/callback for attempt 2 .*: 200 applied/);
  });

  it('stacks callbacks that arrive close together instead of drawing them on top of each other', () => {
    const marks = layoutTimeline(run, events, now).callbacks;
    // applied (15.5 s), duplicate (15.8 s) and conflict (16 s) are within a few percent of the axis.
    expect(new Set(marks.slice(1).map((m) => m.level)).size).toBe(3);
    expect(marks.every((m) => !m.compact)).toBe(true);
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
    expect(marks[1]!.getAttribute('aria-label')).toContain('401 unauthorized');
  });

  it('keeps the open attempt’s deadline on the axis so the scale does not change every tick', () => {
    const a = layoutTimeline(run, events, now);
    const b = layoutTimeline(run, events, now + 500);
    expect(a.end).toBe(b.end);
    expect(a.end).toBeGreaterThan(Date.parse(run.attempts[1]!.timeoutDue));
  });

  it('a tick label under a restart’s flag gives way to it', () => {
    const start = Date.parse(run.createdAt);
    const plain = layoutTimeline(run, events, now, [], 720);
    const tick = plain.ticks[1]!;
    // A restart seen on the stream right at the second tick (and far from the logged one).
    const tl = layoutTimeline(run, events, now, [{ at: tick.at, label: 'seen', origin: 'stream' }], 720);
    expect(tl.restarts.some((r) => r.at === tick.at && r.flag)).toBe(true);
    expect(tl.ticks.map((t) => t.at)).not.toContain(tick.at);
    expect(tl.ticks[0]!.at).toBe(start);
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

/**
 * A run of `attempts` attempts that all time out, each followed by `late` callbacks 5 ms apart, made by the machine
 * itself: every entry applied through `transition`, as the server would log it.
 */
function longRun(attempts: number, late: number): { run: Run; events: RunEventEntry[]; now: number } {
  const t0 = Date.parse('2026-03-02T09:00:00.000Z');
  const config = {
    target: { url: 'https://jobs.example.com/export' },
    timeoutSeconds: 5,
    retryLimit: attempts - 1,
    backoff: { initialSeconds: 1, multiplier: 1 },
  };
  let [s] = initialTransition(runMachine, { runId: 'run_long', config, at: t0 });
  const events: RunEventEntry[] = [];
  const log = (e: Omit<RunEventEntry, 'seq'>) => events.push({ seq: events.length, ...e });
  const apply = (event: RunMachineEvent, source: RunEventEntry['source'], attemptId?: string) => {
    [s] = transition(runMachine, s, event);
    log({
      at: new Date(event.at).toISOString(),
      type: event.type,
      source,
      verdict: 'applied',
      ...(attemptId ? { attemptId } : {}),
      stateAfter: leafState(s.value),
      event,
    });
  };
  apply({ type: 'run.start', at: t0 }, 'api');
  for (let n = 1; n <= attempts; n++) {
    const a = s.context.attempts[s.context.attempts.length - 1]!;
    apply({ type: 'trigger.succeeded', attemptId: a.id, at: a.started + 50 }, 'trigger', a.id);
    const due = s.context.attempts[s.context.attempts.length - 1]!.timeoutDue;
    apply({ type: 'xstate.after.attemptTimeout.run.attempt.awaitingCallback', at: due + 7 } as unknown as RunMachineEvent, 'timer');
    for (let k = 0; k < late; k++) {
      log({
        at: new Date(due + 20 + k * 5).toISOString(),
        type: 'callback.received',
        source: 'callback',
        verdict: 'late',
        attemptId: a.id,
        httpStatus: 410,
        detail: 'late',
      });
    }
    if (s.context.retryDue !== null)
      apply({ type: 'xstate.after.retryBackoff.run.retrying', at: s.context.retryDue } as unknown as RunMachineEvent, 'timer');
  }
  const run = toRun(s);
  return { run, events, now: Date.parse(run.finishedAt!) + 1_000 };
}

/** Where an instant is on the track, px. */
const xOf = (t: number, tl: Timeline) => (pct(t, tl) / 100) * tl.trackPx;

/** No two marks on one level cover each other. */
function expectMarksApart(tl: Timeline) {
  const byLevel = new Map<number, Array<[number, number]>>();
  for (const m of tl.callbacks) {
    const w = markWidthPx(m);
    const x = xOf(m.at, tl);
    byLevel.set(m.level, [...(byLevel.get(m.level) ?? []), [x - w / 2, x + w / 2]]);
  }
  for (const spans of byLevel.values()) {
    spans.sort((a, b) => a[0] - b[0]);
    spans.forEach((span, i) => i > 0 && expect(span[0], 'marks overlap').toBeGreaterThanOrEqual(spans[i - 1]![1]));
  }
}

describe('timeline layout: labels never overlap, whatever the run’s length and the width', () => {
  const long = longRun(30, 3);

  it('builds the long run the machine would (30 attempts, all timed out, 90 late callbacks)', () => {
    expect(long.run.attempts).toHaveLength(30);
    expect(long.run.status).toBe('failed');
    expect(long.events.filter((e) => e.verdict === 'late')).toHaveLength(90);
  });

  it.each([240, 390, 720, 1200])('at %i px: tick labels have room between them', (width) => {
    const tl = layoutTimeline(long.run, long.events, long.now, [], width);
    const ext = tickExtents(tl.ticks, (t) => xOf(t, tl));
    expect(tl.ticks.length).toBeGreaterThanOrEqual(1);
    ext.forEach((e, i) => i > 0 && expect(e[0], `tick ${i} overlaps tick ${i - 1}`).toBeGreaterThan(ext[i - 1]![1]));
    // Nor does any stick out past the track's end.
    expect(Math.max(...ext.map((e) => e[1]))).toBeLessThanOrEqual(width);
    // Wider tracks get more ticks, never fewer.
    if (width >= 720) expect(tl.ticks.length).toBeGreaterThan(2);
  });

  it.each([240, 390, 720, 1200])('at %i px: callback marks never cover each other', (width) => {
    expectMarksApart(layoutTimeline(long.run, long.events, long.now, [], width));
  });

  it('a crowded narrow lane draws dots instead of texts, stacked as deep as needed; a roomy one keeps its texts', () => {
    const narrow = layoutTimeline(long.run, long.events, long.now, [], 240);
    expect(narrow.callbacks.every((m) => m.compact)).toBe(true);
    expect(narrow.laneLevels).toBe(Math.max(...narrow.callbacks.map((m) => m.level)) + 1);
    const few = longRun(2, 1);
    const wide = layoutTimeline(few.run, few.events, few.now, [], 1200);
    expect(wide.callbacks.every((m) => !m.compact)).toBe(true);
    expect(wide.laneLevels).toBe(1);
  });

  it('a backoff too short for its label keeps it to the tooltip; the lateness label stays inside the track', () => {
    const tl = layoutTimeline(long.run, long.events, long.now, [], 240);
    const gaps = tl.attempts.filter((a) => a.backoffBefore);
    expect(gaps).toHaveLength(29);
    expect(gaps.every((a) => !a.backoffLabelFits)).toBe(true);
    for (const a of tl.attempts) {
      expect(a.lateLabel).toBe('fired +7 ms late');
      const w = textWidthPx(a.lateLabel!, LABEL_FONT.late);
      const x = xOf(a.endedAt!, tl);
      if (a.lateSide === 'after') expect(x + LATE_OFFSET_PX + w).toBeLessThanOrEqual(tl.trackPx);
      if (a.lateSide === 'before') expect(x - LATE_OFFSET_PX - w).toBeGreaterThanOrEqual(0);
    }
    expect(tl.attempts[tl.attempts.length - 1]!.lateSide).toBe('before');
    // With room, the seed's 2 s backoff says its length in its bar.
    const seed = layoutTimeline(fixtures.seed.run, fixtures.seed.events, fixtures.seed.now, [], 1200);
    expect(seed.attempts[1]!.backoffLabelFits).toBe(true);
  });

  it('renders the long run on a narrow track without losing a row or a callback', () => {
    render(<AttemptsTimeline run={long.run} events={long.events} now={long.now} />);
    expect(rows()).toHaveLength(30);
    expect(lane()).toHaveLength(90);
    // Every mark keeps its full name, text drawn or not.
    expect(lane()[0]!.getAttribute('aria-label')).toMatch(/^callback for attempt 1 at .*: 410 late — late$/);
  });
});
