/**
 * The runs list for daily use: one page (50 rows) from the server as the URL names it — filters, created range, order,
 * cursor — kept live by the shared stream, with bulk actions confirmed by a dry run.
 */
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BulkResult, RunList, RunSummary } from '@tether/machine/protocol';
import { page, stubApi, summary, type ApiAnswer, type ApiRequest } from '../../../test/fakeApi.ts';
import { FakeWebSocket } from '../../../test/fakeWebSocket.ts';
import { renderWithProviders } from '../../../test/providers.tsx';
import { RunsPage } from './RunsPage.tsx';

/** Runs n … n-count+1, newest first, as the first page of the default order has them. */
const newestFirst = (from: number, count: number): RunSummary[] => Array.from({ length: count }, (_, i) => summary(from - i));

const lists = (requests: ApiRequest[]) => requests.filter((r) => r.method === 'GET' && r.url.pathname === '/api/runs');
const bulks = (requests: ApiRequest[]) => requests.filter((r) => r.url.pathname.startsWith('/api/runs/bulk/'));

function open(url: string, handler: (req: ApiRequest) => ApiAnswer) {
  window.history.replaceState(null, '', url);
  const requests = stubApi(handler);
  const view = renderWithProviders(<RunsPage />);
  const ws = FakeWebSocket.latest();
  act(() => ws.serverOpen());
  return { ...view, requests, ws };
}

const table = () => screen.getByRole('table', { name: 'Runs' });
const rowIds = () =>
  within(table())
    .getAllByRole('row')
    .slice(1)
    .map((r) => r.dataset.runId);
const bulkBar = () => screen.getByRole('toolbar', { name: 'Bulk actions' });

describe('RunsPage', () => {
  beforeEach(() => {
    FakeWebSocket.reset();
    vi.stubGlobal('WebSocket', FakeWebSocket);
  });
  afterEach(() => vi.unstubAllGlobals());

  it('asks the server for the page the URL names and shows what it answers', async () => {
    const runs = newestFirst(50, 50);
    const { requests } = open(
      '/?status=failed&name=job&sort=-updatedAt&createdAfter=2026-03-01T00:00:00.000Z&createdBefore=2026-03-03T00:00:00.000Z',
      () => ({ body: page(runs, { total: 12_345, nextCursor: 'c2' }) }),
    );
    await screen.findByRole('table', { name: 'Runs' });
    const q = lists(requests)[0]!.url.searchParams;
    expect(Object.fromEntries(q)).toEqual({
      status: 'failed',
      name: 'job',
      sort: '-updatedAt',
      createdAfter: '2026-03-01T00:00:00.000Z',
      createdBefore: '2026-03-03T00:00:00.000Z',
      limit: '50',
    });
    // The server's order, as it is: nothing re-sorted or filtered here.
    expect(rowIds()).toEqual(runs.map((r) => r.id));
    expect(screen.getByText('1–50 of 12,345')).toBeTruthy();
    expect((screen.getByLabelText('Status') as HTMLSelectElement).value).toBe('failed');
    expect((screen.getByLabelText('Created after') as HTMLInputElement).value).toBe('2026-03-01T00:00');
    expect((screen.getByLabelText('Created before') as HTMLInputElement).value).toBe('2026-03-03T00:00');
    expect(screen.getByRole('columnheader', { name: /Updated/ }).getAttribute('aria-sort')).toBe('descending');
    expect(screen.getByRole('columnheader', { name: /Created/ }).hasAttribute('aria-sort')).toBe(false);
    // One line a run: the status once, as a badge; "attempt of max".
    const row = within(table()).getAllByRole('row')[1]!;
    expect(within(row).getAllByText('running')).toHaveLength(1);
    expect(within(row).getByText('2 of 4')).toBeTruthy();
  });

  it('shows Next only when there is a next page, and Previous back to where it came from', async () => {
    const { requests } = open('/', ({ url }) =>
      url.searchParams.get('cursor') === 'c2'
        ? { body: page(newestFirst(10, 10), { total: 60 }) }
        : { body: page(newestFirst(60, 50), { total: 60, nextCursor: 'c2' }) },
    );
    await screen.findByText('1–50 of 60');
    expect(screen.queryByRole('button', { name: /Previous page/ })).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: /Next page/ }));
    await screen.findByText('51–60 of 60');
    expect(new URLSearchParams(window.location.search).get('cursor')).toBe('c2');
    expect(lists(requests).at(-1)!.url.searchParams.get('cursor')).toBe('c2');
    expect(rowIds()).toHaveLength(10);
    // The last page: nothing older, no Next.
    expect(screen.queryByRole('button', { name: /Next page/ })).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: /Previous page/ }));
    await screen.findByText('1–50 of 60');
    expect(window.location.search).toBe('');
  });

  it('sorts and filters by asking the server, each change kept in the URL and starting on the first page', async () => {
    const { requests } = open('/?cursor=c9', () => ({ body: page(newestFirst(3, 3)) }));
    await screen.findByRole('table', { name: 'Runs' });

    fireEvent.click(within(screen.getByRole('columnheader', { name: /Created/ })).getByRole('button'));
    await waitFor(() => expect(lists(requests).at(-1)!.url.searchParams.get('sort')).toBe('createdAt'));
    expect(window.location.search).toBe('?sort=createdAt');
    expect(screen.getByRole('columnheader', { name: /Created/ }).getAttribute('aria-sort')).toBe('ascending');

    fireEvent.change(screen.getByLabelText('Created after'), { target: { value: '2026-03-02T10:00' } });
    await waitFor(() => expect(lists(requests).at(-1)!.url.searchParams.get('createdAfter')).toBe('2026-03-02T10:00:00.000Z'));
    fireEvent.change(screen.getByLabelText('Status'), { target: { value: 'running' } });
    await waitFor(() => expect(lists(requests).at(-1)!.url.searchParams.get('status')).toBe('running'));
    expect(Object.fromEntries(new URLSearchParams(window.location.search))).toEqual({
      sort: 'createdAt',
      createdAfter: '2026-03-02T10:00:00.000Z',
      status: 'running',
    });
  });

  it('watches the rows on the page: a run.summary updates its row in place, an older one does not', async () => {
    const runs = newestFirst(3, 3);
    const { ws } = open('/', () => ({ body: page(runs) }));
    await screen.findByRole('table', { name: 'Runs' });
    await waitFor(() => expect(ws.watches().at(-1)).toEqual({ type: 'watch', runs: runs.map((r) => r.id).sort(), run: null, created: true }));

    const updatedAt = new Date(Date.parse(runs[1]!.updatedAt) + 60_000).toISOString();
    act(() => ws.serverSend({ type: 'run.summary', summary: { ...runs[1]!, status: 'succeeded', attempt: 3, updatedAt } }));
    const row = () => screen.getByRole('row', { name: /job 2/ });
    await waitFor(() => expect(row().dataset.status).toBe('succeeded'));
    expect(within(row()).getByText('3 of 4')).toBeTruthy();
    expect(rowIds()).toEqual(runs.map((r) => r.id));

    act(() => ws.serverSend({ type: 'run.summary', summary: { ...runs[1]!, status: 'failed' } }));
    await new Promise((r) => setTimeout(r, 20));
    expect(row().dataset.status).toBe('succeeded');
  });

  it('counts runs created since the first page was read, and shows them when asked', async () => {
    let runs = newestFirst(3, 3);
    const { ws, requests } = open('/', () => ({ body: page(runs) }));
    await screen.findByRole('table', { name: 'Runs' });
    const fresh = summary(4);
    act(() => ws.serverSend({ type: 'run.summary', summary: fresh }));
    const show = await screen.findByRole('button', { name: '1 new run — show' });
    expect(rowIds()).toHaveLength(3);

    runs = [fresh, ...runs];
    const before = lists(requests).length;
    fireEvent.click(show);
    await waitFor(() => expect(rowIds()[0]).toBe(fresh.id));
    expect(lists(requests).length).toBe(before + 1);
    expect(screen.queryByRole('button', { name: /new run/ })).toBeNull();
  });

  it('cancels the ticked runs after a dry run says what will happen, then shows each result', async () => {
    const runs = newestFirst(3, 3);
    const dry: BulkResult = {
      action: 'cancel',
      dryRun: true,
      matched: 2,
      counts: { done: 0, eligible: 1, skipped: 1, failed: 0 },
      results: [
        { id: runs[0]!.id, outcome: 'eligible' },
        { id: runs[1]!.id, outcome: 'skipped', code: 'TETHER_RUN_FINAL', reason: 'already final (succeeded)' },
      ],
    };
    const done: BulkResult = {
      ...dry,
      dryRun: false,
      counts: { ...dry.counts, done: 1, eligible: 0 },
      results: [{ id: runs[0]!.id, outcome: 'done' }, dry.results[1]!],
    };
    const { requests } = open('/', ({ url, body }) =>
      url.pathname === '/api/runs/bulk/cancel' ? { body: (body as { dryRun: boolean }).dryRun ? dry : done } : { body: page(runs) },
    );
    await screen.findByRole('table', { name: 'Runs' });

    fireEvent.click(screen.getByLabelText('Select job 3'));
    fireEvent.click(screen.getByLabelText('Select job 2'));
    expect(within(bulkBar()).getByText('2 selected')).toBeTruthy();
    fireEvent.click(within(bulkBar()).getByRole('button', { name: 'Cancel' }));

    const dialog = await screen.findByRole('dialog', { name: 'Cancel runs' });
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    await within(dialog).findByText('1 will be cancelled; 1 skipped: already final (succeeded).');
    expect(within(within(dialog).getByRole('list', { name: 'Skipped runs' })).getByRole('listitem').textContent).toBe(
      `${runs[1]!.id} — already final (succeeded)`,
    );
    expect(bulks(requests).map((r) => r.body)).toEqual([{ ids: [runs[0]!.id, runs[1]!.id], dryRun: true }]);

    const listReads = lists(requests).length;
    fireEvent.change(within(dialog).getByLabelText('Reason (optional)'), { target: { value: 'maintenance' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    const results = await within(dialog).findByRole('table', { name: 'Results' });
    expect(bulks(requests)[1]!.body).toEqual({ ids: [runs[0]!.id, runs[1]!.id], dryRun: false, reason: 'maintenance' });
    expect(within(dialog).getByText('1 cancelled; 1 skipped: already final (succeeded).')).toBeTruthy();
    const lines = within(results)
      .getAllByRole('row')
      .slice(1)
      .map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent));
    expect(lines).toEqual([
      [runs[0]!.id, 'cancelled', ''],
      [runs[1]!.id, 'skipped', 'already final (succeeded)'],
    ]);
    // The list is read again, and the selection is spent.
    await waitFor(() => expect(lists(requests).length).toBeGreaterThan(listReads));
    expect(within(bulkBar()).getByText('None selected')).toBeTruthy();

    fireEvent.click(within(dialog).getByRole('button', { name: 'Close' }));
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('links each rerun to its new run', async () => {
    const runs = newestFirst(1, 1);
    const result = (dryRun: boolean): BulkResult => ({
      action: 'rerun',
      dryRun,
      matched: 1,
      counts: { done: dryRun ? 0 : 1, eligible: dryRun ? 1 : 0, skipped: 0, failed: 0 },
      results: [dryRun ? { id: runs[0]!.id, outcome: 'eligible' } : { id: runs[0]!.id, outcome: 'done', newRunId: 'run_new1' }],
    });
    open('/', ({ url, body }) =>
      url.pathname === '/api/runs/bulk/rerun' ? { body: result((body as { dryRun: boolean }).dryRun) } : { body: page(runs) },
    );
    await screen.findByRole('table', { name: 'Runs' });
    fireEvent.click(screen.getByLabelText('Select job 1'));
    fireEvent.click(within(bulkBar()).getByRole('button', { name: 'Rerun' }));
    const dialog = await screen.findByRole('dialog', { name: 'Rerun runs' });
    fireEvent.click(await within(dialog).findByRole('button', { name: 'Confirm' }));
    const link = await within(dialog).findByRole('link', { name: /New run run_new1/ });
    expect(link.getAttribute('href')).toBe('/runs/run_new1');
  });

  it('selects every run matching the filter, and says so when that is more than a bulk action takes', async () => {
    const runs = newestFirst(50, 50);
    const { requests } = open('/?status=failed', ({ url }) =>
      url.pathname.startsWith('/api/runs/bulk/')
        ? { status: 422, body: { error: { code: 'TETHER_BULK_TOO_MANY', message: 'the filter matches 1500 runs; at most 1000' } } }
        : { body: page(runs, { total: 1500, nextCursor: 'c2' }) },
    );
    await screen.findByRole('table', { name: 'Runs' });
    expect(screen.queryByRole('button', { name: /Select all/ })).toBeNull();

    fireEvent.click(screen.getByLabelText('Select all runs on this page'));
    fireEvent.click(screen.getByRole('button', { name: 'Select all 1,500 matching this filter' }));
    expect(within(bulkBar()).getByText('All 1,500 runs selected')).toBeTruthy();
    fireEvent.click(within(bulkBar()).getByRole('button', { name: 'Retry now' }));

    const dialog = await screen.findByRole('dialog', { name: 'Retry runs now' });
    expect((await within(dialog).findByRole('alert')).textContent).toMatch(/Too many runs for one bulk action/);
    expect(bulks(requests).map((r) => [r.url.pathname, r.body])).toEqual([
      ['/api/runs/bulk/retry-now', { filter: { status: 'failed' }, dryRun: true }],
    ]);
    expect(within(dialog).queryByRole('button', { name: 'Confirm' })).toBeNull();
  });

  it('says what to do when there are no runs, and that it is live', async () => {
    open('/', () => ({ body: page([]) satisfies RunList }));
    expect(await screen.findByText('No runs yet')).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Launch the seed scenario' }).getAttribute('href')).toBe('/runs/new?preset=seed');
    expect(screen.getByRole('status').textContent).toContain('Live');
  });
});
