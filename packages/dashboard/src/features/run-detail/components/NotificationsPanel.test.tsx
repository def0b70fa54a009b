import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { fixtures } from '../../../test/fixtures.ts';
import { NotificationsPanel } from './NotificationsPanel.tsx';

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const base = fixtures.seed;
const withNotify = (notification?: Run['notification']): Run => ({
  ...base.run,
  config: { ...base.run.config, notify: { url: 'https://ci.example/hooks/tether', headers: { Authorization: '<redacted>' } } },
  ...(notification ? { notification } : {}),
});
const tries: RunEventEntry[] = [
  ...base.events,
  {
    seq: 90,
    at: '2026-01-01T00:00:10.000Z',
    type: 'notify.failed',
    source: 'server',
    verdict: 'recorded',
    httpStatus: 500,
    detail: 'try 1: HTTP 500 in 4 ms',
  },
  {
    seq: 91,
    at: '2026-01-01T00:00:11.000Z',
    type: 'notify.delivered',
    source: 'server',
    verdict: 'recorded',
    httpStatus: 204,
    detail: 'try 2: HTTP 204 in 3 ms',
  },
];

describe('NotificationsPanel', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('nothing for a run without notify', () => {
    const { container } = render(<NotificationsPanel run={base.run} events={base.events} now={base.now} onRun={() => {}} />);
    expect(container.textContent).toBe('');
  });

  it('shows where it goes, its state and every try; re-deliver asks the server and shows the run it answers', async () => {
    const delivered = withNotify({
      id: 'ntf_1',
      state: 'delivered',
      attempts: 2,
      nextAt: null,
      lastStatus: 204,
      lastError: null,
      deliveredAt: '2026-01-01T00:00:11.000Z',
    });
    const onRun = vi.fn();
    const fetch = vi.fn(async () => json(202, delivered));
    vi.stubGlobal('fetch', fetch);
    render(<NotificationsPanel run={delivered} events={tries} now={base.now} onRun={onRun} />);
    expect(screen.getByText(/POST https:\/\/ci\.example\/hooks\/tether/)).toBeTruthy();
    expect(screen.getByTestId('notification-state').dataset.state).toBe('delivered');
    const rows = within(screen.getByRole('table', { name: 'Webhook deliveries' }))
      .getAllByRole('row')
      .slice(1);
    expect(rows.map((r) => r.textContent)).toEqual([expect.stringContaining('Failed500'), expect.stringContaining('Delivered204')]);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Re-deliver' })));
    expect((fetch.mock.calls[0] as unknown as [string])[0]).toBe(`/api/runs/${base.run.id}/notification/redeliver`);
    expect(onRun).toHaveBeenCalledWith(delivered);
  });

  it('before the run is final: not sent yet, and re-deliver is disabled', () => {
    render(<NotificationsPanel run={withNotify()} events={base.events} now={base.now} onRun={() => {}} />);
    expect(screen.getByTestId('notification-state').textContent).toMatch(/Not sent yet/);
    expect((screen.getByRole('button', { name: 'Re-deliver' }) as HTMLButtonElement).disabled).toBe(true);
  });
});
