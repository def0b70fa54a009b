import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunSummary } from '@tether/machine/protocol';
import { allFixtures, fixtures } from '../../../test/fixtures.ts';
import { FakeWebSocket } from '../../../test/fakeWebSocket.ts';
import { RunsPage } from './RunsPage.tsx';

const NOW = fixtures.overdue.now;

function renderPage(summaries: RunSummary[] = allFixtures.map((f) => f.summary)) {
  vi.stubGlobal(
    'fetch',
    vi.fn(async () => new Response(JSON.stringify({ runs: [], nextCursor: null }), { status: 200, headers: { 'content-type': 'application/json' } })),
  );
  const view = render(<RunsPage />);
  const ws = FakeWebSocket.latest();
  act(() => {
    ws.serverOpen();
    ws.serverSend({ type: 'snapshot', bootId: 'boot-1', startedAt: new Date(NOW - 60_000).toISOString(), runs: summaries });
  });
  return { ...view, ws };
}

const rowIds = () =>
  within(screen.getByRole('table', { name: 'Runs' }))
    .getAllByRole('row')
    .slice(1)
    .map((r) => r.dataset.runId);

describe('RunsPage (live list with derived filters)', () => {
  beforeEach(() => {
    FakeWebSocket.reset();
    vi.stubGlobal('WebSocket', FakeWebSocket);
    vi.useFakeTimers({ now: NOW, toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('lists the stream snapshot, newest first, and says it is live', () => {
    renderPage();
    expect(rowIds()).toHaveLength(allFixtures.length);
    expect(screen.getByRole('status').textContent).toContain('Live');
  });

  it('shows each derived filter with its count and keeps the choice in the URL', () => {
    renderPage();
    const overdue = screen.getByRole('button', { name: /Overdue/ });
    expect(overdue.textContent).toBe('Overdue 2');
    expect(screen.getByRole('button', { name: /Retrying/ }).textContent).toBe('Retrying 2');
    expect(screen.getByRole('button', { name: /In backoff/ }).textContent).toBe('In backoff 1');
    expect(screen.getByRole('button', { name: /Exhausted/ }).textContent).toBe('Exhausted 1');

    fireEvent.click(overdue);
    expect(window.location.search).toBe('?derived=overdue');
    expect(overdue.getAttribute('aria-pressed')).toBe('true');
    expect(rowIds().sort()).toEqual(['run_02live', 'run_05overdue']);

    fireEvent.click(screen.getByRole('button', { name: /Overdue/ }));
    expect(window.location.search).toBe('');
    expect(rowIds()).toHaveLength(allFixtures.length);
  });

  it('reads filters from the URL it was opened with', () => {
    window.history.replaceState(null, '', '/?status=failed&derived=exhausted');
    renderPage();
    expect(rowIds()).toEqual(['run_04exhausted']);
    expect((screen.getByLabelText('Status') as HTMLSelectElement).value).toBe('failed');
  });

  it('applies run.updated messages as they come', () => {
    const { ws } = renderPage([fixtures.waiting.summary]);
    expect(screen.getByRole('button', { name: /Retrying/ }).textContent).toBe('Retrying 1');
    const updatedAt = new Date(NOW).toISOString();
    const succeeded = { ...fixtures.waiting.run, status: 'succeeded' as const, state: 'succeeded', nextDueAt: null, updatedAt };
    const summary = { ...fixtures.waiting.summary, status: 'succeeded' as const, state: 'succeeded', nextDueAt: null, updatedAt };
    act(() => ws.serverSend({ type: 'run.updated', run: succeeded, summary }));
    const row = screen.getByRole('row', { name: /nightly export/ });
    expect(row.dataset.status).toBe('succeeded');
    expect(screen.getByRole('button', { name: /Retrying/ }).textContent).toBe('Retrying 0');
  });

  it('shows the summary a run.updated carries as it is, not one re-derived from its run', () => {
    const { ws } = renderPage([fixtures.waiting.summary]);
    const updatedAt = new Date(NOW).toISOString();
    // The server's list line says something the run alone would not: the list must show it.
    const summary = { ...fixtures.waiting.summary, lastMessage: 'as the server summarised it', updatedAt };
    act(() => ws.serverSend({ type: 'run.updated', run: { ...fixtures.waiting.run, updatedAt }, summary }));
    expect(within(screen.getByRole('row', { name: /nightly export/ })).getByText('as the server summarised it')).toBeTruthy();
  });

  it('shows reconnecting when the socket drops and opens a new one after a backoff', () => {
    const { ws } = renderPage();
    act(() => ws.serverClose());
    expect(screen.getByRole('status').textContent).toMatch(/Reconnecting/);
    expect(FakeWebSocket.instances).toHaveLength(1);
    act(() => vi.advanceTimersByTime(500));
    expect(FakeWebSocket.instances).toHaveLength(2);
    act(() => {
      FakeWebSocket.latest().serverOpen();
      FakeWebSocket.latest().serverSend({ type: 'snapshot', bootId: 'boot-2', startedAt: new Date(NOW).toISOString(), runs: [] });
    });
    expect(screen.getByRole('status').textContent).toContain('Live');
    // A different bootId: the server restarted while we were away.
    expect(screen.getByRole('note').textContent).toMatch(/Server restarted at/);
  });

  it('says what to do when there are no runs', () => {
    renderPage([]);
    expect(screen.getByText('No runs yet')).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Launch the seed scenario' }).getAttribute('href')).toBe('/runs/new?preset=seed');
  });
});
