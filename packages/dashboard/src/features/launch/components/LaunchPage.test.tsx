import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fixtures } from '../../../test/fixtures.ts';
import { LaunchPage } from './LaunchPage.tsx';

const NOW = Date.parse('2026-03-02T12:00:00.000Z');
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('LaunchPage', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW, toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    window.history.replaceState(null, '', '/runs/new');
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('starts on the seed scenario aimed at the built-in simulator, with its forecast', () => {
    render(<LaunchPage />);
    expect((screen.getByLabelText('Target URL') as HTMLInputElement).value).toBe(`${window.location.origin}/simulator/jobs`);
    expect(JSON.parse((screen.getByLabelText('Payload (JSON)') as HTMLTextAreaElement).value)).toEqual({
      simulate: { perAttempt: ['never', 'success'], delaySeconds: 2 },
    });
    const forecast = screen.getByRole('table', { name: 'Forecast if launched now' });
    // 10 s timeout, 4 retries, backoff 2 s doubling: 0–10, 12–22, 26–36, 44–54, 70–80.
    expect(within(forecast).getAllByRole('row')).toHaveLength(1 + 5);
    expect(screen.getByTestId('forecast-summary').textContent).toContain('gives up at 12:01:20 UTC (+1 m 20 s) after attempt 5 of 5');
  });

  it('recomputes the forecast as the timing fields change', () => {
    render(<LaunchPage />);
    fireEvent.change(screen.getByLabelText('Retry limit'), { target: { value: '1' } });
    fireEvent.change(screen.getByLabelText('Timeout per attempt (s)'), { target: { value: '5' } });
    expect(screen.getByTestId('forecast-summary').textContent).toContain('gives up at 12:00:12 UTC (+12.0 s) after attempt 2 of 2');
  });

  it('applies a simulator preset to the payload', () => {
    render(<LaunchPage />);
    fireEvent.click(screen.getByRole('radio', { name: /Late callback/ }));
    expect(JSON.parse((screen.getByLabelText('Payload (JSON)') as HTMLTextAreaElement).value)).toEqual({ simulate: { outcome: 'late' } });
  });

  it('validates the payload as JSON next to the field', () => {
    render(<LaunchPage />);
    const payload = screen.getByLabelText('Payload (JSON)');
    fireEvent.change(payload, { target: { value: '{"simulate": ' } });
    expect(payload.getAttribute('aria-invalid')).toBe('true');
    const error = document.getElementById(payload.getAttribute('aria-describedby')!.split(' ')[0]!)!;
    expect(error.textContent).toMatch(/^payload is not valid JSON/);
  });

  it('refuses what the shared config parser refuses, before sending anything', () => {
    const fetch = vi.fn();
    vi.stubGlobal('fetch', fetch);
    render(<LaunchPage />);
    fireEvent.change(screen.getByLabelText('Max delay (s)'), { target: { value: '1' } });
    fireEvent.change(screen.getByLabelText('Initial delay (s)'), { target: { value: '5' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch run' }));
    expect(fetch).not.toHaveBeenCalled();
    expect(screen.getByLabelText('Max delay (s)').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('backoff.maxSeconds must be >= backoff.initialSeconds')).toBeTruthy();
  });

  it('on launch, shows every error of the form at once, each by its field, with a summary that leads to them', () => {
    const fetch = vi.fn();
    vi.stubGlobal('fetch', fetch);
    render(<LaunchPage />);
    fireEvent.change(screen.getByLabelText('Retry limit'), { target: { value: '' } });
    fireEvent.change(screen.getByLabelText('Timeout per attempt (s)'), { target: { value: '0' } });
    fireEvent.change(screen.getByLabelText('Initial delay (s)'), { target: { value: '-1' } });
    fireEvent.change(screen.getByLabelText('Payload (JSON)'), { target: { value: '{"simulate": {"outcome": "sucess"}}' } });
    fireEvent.change(screen.getByLabelText('Heartbeat timeout (s)'), { target: { value: '0' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch run' }));
    expect(fetch).not.toHaveBeenCalled();

    const described = (label: string) => {
      const control = screen.getByLabelText(label);
      expect(control.getAttribute('aria-invalid'), label).toBe('true');
      return document.getElementById(control.getAttribute('aria-describedby')!.split(' ')[0]!)!.textContent;
    };
    expect(described('Retry limit')).toBe('retryLimit is required');
    expect(described('Timeout per attempt (s)')).toBe('timeoutSeconds must be > 0');
    expect(described('Initial delay (s)')).toBe('backoff.initialSeconds must be >= 0');
    expect(described('Heartbeat timeout (s)')).toBe('heartbeatTimeoutSeconds must be > 0');
    // The simulator's outcome is checked against the outcomes it has, not silently taken for one it does not know.
    expect(described('Payload (JSON)')).toBe(
      'payload.simulate.outcome must be one of "success", "failure", "never", "triggerError", "late", "duplicate", "early"',
    );

    expect(screen.getByRole('alert').textContent).toBe('5 fields need fixing before launch.');
    const summary = screen.getByRole('list', { name: '5 fields need fixing before launch.' });
    const links = within(summary).getAllByRole('link');
    expect(links.map((l) => l.textContent)).toEqual(['Payload', 'Timeout per attempt', 'Retry limit', 'Heartbeat timeout', 'Initial delay']);
    fireEvent.click(links[2]!);
    expect(document.activeElement).toBe(screen.getByLabelText('Retry limit'));
  });

  it('before a launch is tried, only the fields already edited show their errors', () => {
    render(<LaunchPage />);
    fireEvent.change(screen.getByLabelText('Retry limit'), { target: { value: '' } });
    expect(screen.getByLabelText('Retry limit').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Timeout per attempt (s)').getAttribute('aria-invalid')).toBeNull();
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('shows the server’s field error next to that field', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        json(400, {
          error: {
            code: 'TETHER_TARGET_NOT_ALLOWED',
            message: 'target.url must not point at a private network',
            fields: [{ path: 'target.url', message: 'must not point at a private network' }],
          },
        }),
      ),
    );
    render(<LaunchPage />);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Launch run' }));
    });
    const url = screen.getByLabelText('Target URL');
    expect(url.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('target.url must not point at a private network')).toBeTruthy();
    // Editing the field clears the server's verdict on it.
    fireEvent.change(url, { target: { value: 'https://example.com/jobs' } });
    expect(screen.queryByText('target.url must not point at a private network')).toBeNull();
  });

  it('shows every field error of the server’s answer at once, each by its control', async () => {
    const fields = [
      { path: 'target.url', message: 'http://example.test is not in TETHER_ALLOWED_TARGETS' },
      { path: 'backoff.maxSeconds', message: 'must be >= backoff.initialSeconds' },
      { path: 'timeoutSeconds', message: 'must be <= 60 on this server' },
    ];
    // The message names only the first: the form must read `fields`, not the message.
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        json(400, {
          error: { code: 'TETHER_VALIDATION', message: 'target.url http://example.test is not in TETHER_ALLOWED_TARGETS; and 2 more', fields },
        }),
      ),
    );
    render(<LaunchPage />);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Launch run' }));
    });
    const shown = [...document.querySelectorAll<HTMLElement>('.field-error[data-field]')].map((e) => [e.dataset.field, e.textContent]);
    expect(shown).toEqual(
      expect.arrayContaining([
        ['target.url', 'target.url http://example.test is not in TETHER_ALLOWED_TARGETS'],
        ['backoff.maxSeconds', 'backoff.maxSeconds must be >= backoff.initialSeconds'],
        ['timeoutSeconds', 'timeoutSeconds must be <= 60 on this server'],
      ]),
    );
    expect(shown).toHaveLength(3);
    for (const label of ['Target URL', 'Max delay (s)', 'Timeout per attempt (s)'])
      expect(screen.getByLabelText(label).getAttribute('aria-invalid'), label).toBe('true');
    // The summary names the three controls (each message is shown once, by its control) and nothing else.
    expect(screen.getByRole('alert').textContent).toBe('The server refused this run: 3 fields need fixing.');
    const summary = screen.getByRole('list', { name: 'The server refused this run: 3 fields need fixing.' });
    expect(
      within(summary)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual(['Target URL', 'Timeout per attempt', 'Max delay']);
  });

  it('several errors on one control are all shown there; one with no control goes to the notice', async () => {
    const fields = [
      { path: 'target.headers.X-A', message: 'is not a valid header name' },
      { path: 'target.headers.X-B', message: 'is set by Tether and cannot be overridden' },
      { path: 'bogus', message: 'is not a known field' },
    ];
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        json(400, { error: { code: 'TETHER_VALIDATION', message: 'target.headers.X-A is not a valid header name; and 2 more', fields } }),
      ),
    );
    render(<LaunchPage />);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Launch run' }));
    });
    const headers = screen.getByLabelText('Headers (JSON object, optional)');
    const error = document.getElementById(headers.getAttribute('aria-describedby')!.split(' ')[0]!)!;
    expect([...error.querySelectorAll('.field-error-line')].map((l) => l.textContent)).toEqual([
      'target.headers.X-A is not a valid header name',
      'target.headers.X-B is set by Tether and cannot be overridden',
    ]);
    const summary = screen.getByRole('list', { name: /^The server refused this run/ });
    expect(
      within(summary)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual(['Headers (2 errors)', 'bogus is not a known field']);
  });

  it('an answer without fields is shown as the server said it, not parsed for field names', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => json(400, { error: { code: 'TETHER_VALIDATION', message: 'timeoutSeconds must be > 0' } })),
    );
    render(<LaunchPage />);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Launch run' }));
    });
    expect(screen.getByLabelText('Timeout per attempt (s)').getAttribute('aria-invalid')).toBeNull();
    expect(within(screen.getByRole('alert')).getByText('timeoutSeconds must be > 0')).toBeTruthy();
  });

  it('posts the RunConfig and goes to the new run', async () => {
    const fetch = vi.fn(async () => json(201, fixtures.waiting.run));
    vi.stubGlobal('fetch', fetch);
    render(<LaunchPage />);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Launch run' }));
    });
    const [path, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(path).toBe('/api/runs');
    expect(JSON.parse(String(init.body))).toEqual({
      name: 'seed scenario',
      target: { url: `${window.location.origin}/simulator/jobs`, method: 'POST' },
      payload: { simulate: { perAttempt: ['never', 'success'], delaySeconds: 2 } },
      timeoutSeconds: 10,
      retryLimit: 4,
      backoff: { jitter: 'none', initialSeconds: 2, multiplier: 2, maxSeconds: 300 },
    });
    expect(window.location.pathname).toBe(`/runs/${fixtures.waiting.run.id}`);
  });
});
