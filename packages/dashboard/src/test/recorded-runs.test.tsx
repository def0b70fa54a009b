/**
 * Properties every recorded run must have, checked on the runs recorded from the real server (`*.server.json`) and
 * on the machine-recorded ones: the dashboard's reading of a run agrees with the server's own projections.
 */
import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { leafState, toRun } from '@tether/machine';
import { AttemptsTimeline } from '../features/run-detail/components/timeline/AttemptsTimeline.tsx';
import { MachineDiagram } from '../features/run-detail/components/MachineDiagram.tsx';
import { liveSnapshot, replayRun, snapshotFromRun } from '../lib/run-snapshot.ts';
import { allFixtures, serverFixtures } from './fixtures.ts';

const stripUrls = (run: ReturnType<typeof toRun>) => ({
  ...run,
  attempts: run.attempts.map((a) => ({ ...a, callbackUrl: null, heartbeatUrl: null })),
});
/** Target header values come back redacted from the API; replay sees the same redacted config. */
const cases = [...serverFixtures, ...allFixtures].map((f) => [f.name, f] as const);

describe('recorded runs', () => {
  it('include runs recorded from the real server', () => {
    expect(serverFixtures.length).toBeGreaterThan(0);
  });

  it.each(cases)('%s: replaying its log through the shared machine gives the run the server stored', (_n, f) => {
    expect(stripUrls(toRun(replayRun(f.run, f.events), { rerunOf: f.run.rerunOf }))).toEqual(stripUrls(f.run));
  });

  it.each(cases)('%s: the run page’s live snapshot is that replay, and equals the server’s view', (_n, f) => {
    const live = liveSnapshot(f.run, f.events);
    expect(live.source).toBe('replay');
    expect(stripUrls(toRun(live.snapshot, { rerunOf: f.run.rerunOf }))).toEqual(stripUrls(f.run));
  });

  it.each(cases)('%s: hydrating it into the machine (the fallback while a log lags) gives its state back', (_n, f) => {
    expect(leafState(snapshotFromRun(f.run).value)).toBe(f.run.state);
  });

  it.each(cases)('%s: the timeline has a row per attempt and a lane mark per callback entry', (_n, f) => {
    render(<AttemptsTimeline run={f.run} events={f.events} now={f.now} />);
    const rows = within(screen.getByRole('list', { name: 'Attempts' })).getAllByRole('listitem');
    const pending = f.run.state === 'retrying' ? 1 : 0;
    expect(rows).toHaveLength(f.run.attempts.length + pending);
    expect(rows.slice(0, f.run.attempts.length).map((r) => r.dataset.state)).toEqual(f.run.attempts.map((a) => a.state));
    const callbacks = f.events.filter(
      (e) => (e.type === 'callback.received' || e.type === 'heartbeat.received') && (e.source === 'callback' || e.source === 'operator'),
    );
    const marks = within(screen.getByRole('list', { name: 'Callback lane' }))
      .queryAllByRole('listitem')
      .filter((li) => li.dataset.verdict);
    expect(marks.map((m) => m.dataset.verdict)).toEqual(callbacks.map((e) => e.verdict));
  });

  it.each(cases)('%s: the diagram marks its current state', (_n, f) => {
    const { container } = render(<MachineDiagram activeState={f.run.state} />);
    expect(container.querySelector<HTMLElement>(`[data-state-id="${f.run.state}"]`)?.dataset.active).toBe('true');
  });
});
