import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Run } from '@tether/machine/protocol';
import type { StreamConnection } from '../../../lib/stream/useStream.ts';
import { allFixtures, fixtures, type RunFixture } from '../../../test/fixtures.ts';
import { RunView } from './RunPage.tsx';

const live: StreamConnection = { status: 'live', failures: 0, nextRetryAt: null, lastClose: null, restarts: [], bootId: 'b1', retryNow: () => {} };
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function show(f: RunFixture, onRun: (r: Run) => void = () => {}) {
  return render(<RunView run={f.run} events={f.events} now={f.now} connection={live} onRun={onRun} />);
}

describe('RunView', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('header: attempt N of M with what remains, the next deadline and the last failure', () => {
    show(fixtures.waiting);
    expect(screen.getByTestId('attempt-fact').textContent).toBe('2 of 4 · 2 attempts left of 4');
    expect(screen.getByRole('timer', { name: /^Next deadline/ }).textContent).toBe('in 0:01');
    expect(screen.getByTestId('last-failure').textContent).toBe('Last failure (attempt #1, CallbackFailure): Disk full on worker 3');
  });

  it('retry now is offered only in backoff, and asks the server', async () => {
    const onRun = vi.fn();
    const fetch = vi.fn(async () => json(200, fixtures.backoff.run));
    vi.stubGlobal('fetch', fetch);
    show(fixtures.backoff, onRun);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Retry now' })));
    expect((fetch.mock.calls[0] as unknown as [string])[0]).toBe('/api/runs/run_03backoff/retry-now');
    expect(onRun).toHaveBeenCalledWith(fixtures.backoff.run);
  });

  it('retry now is disabled while an attempt waits', () => {
    show(fixtures.waiting);
    expect((screen.getByRole('button', { name: 'Retry now' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('shows the server’s refusal of an action', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => json(409, { error: { code: 'TETHER_RUN_FINAL', message: 'Run run_02live is already final.' } })),
    );
    show(fixtures.waiting);
    fireEvent.click(screen.getByRole('button', { name: 'Cancel run…' }));
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'wrong customer' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Cancel run' })));
    expect(screen.getByRole('alert').textContent).toBe('Cancel: Run run_02live is already final. (409)');
  });

  it('callback console: operator completion goes to the attempt’s complete endpoint, and the curl is signed', async () => {
    const fetch = vi.fn(async () => json(200, fixtures.waiting.run));
    vi.stubGlobal('fetch', fetch);
    show(fixtures.waiting);
    const attempt = fixtures.waiting.run.attempts[1]!;
    expect(screen.getByTestId('callback-curl').textContent).toBe(
      `curl -sS -X POST '${attempt.callbackUrl}' \\\n  -H 'content-type: application/json' \\\n  -d '{"success":true}'`,
    );
    fireEvent.change(screen.getByLabelText(/Message sent with the callback/), { target: { value: 'done by hand' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Complete as success' })));
    const [path, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(path).toBe(`/api/runs/run_02live/attempts/${attempt.id}/complete`);
    expect(JSON.parse(String(init.body))).toEqual({ success: true, message: 'done by hand' });
  });

  it('callback console: a forged signature goes to the same path with another sig, and the answer is shown', async () => {
    const fetch = vi.fn(async () => json(401, { result: 'unauthorized', message: 'Signature does not match this run and attempt.' }));
    vi.stubGlobal('fetch', fetch);
    show(fixtures.waiting);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Bad signature' })));
    const path = String((fetch.mock.calls[0] as unknown as [string])[0]);
    expect(path.startsWith('/api/callbacks/run_02live/att_02live_2?sig=')).toBe(true);
    expect(path).not.toContain('sig=fixture-att_02live_2&');
    expect(path).not.toBe('/api/callbacks/run_02live/att_02live_2?sig=fixture-att_02live_2');
    expect(screen.getByText(/HTTP 401/)).toBeTruthy();
  });

  it('a finished run offers no operator action and no forecast', () => {
    show(fixtures.seed);
    expect((screen.getByRole('button', { name: 'Cancel run…' }) as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByRole('button', { name: 'Complete as success' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.queryByRole('heading', { name: 'If no callback arrives' })).toBeNull();
    expect(screen.getByTestId('attempt-fact').textContent).toBe('2 of 5');
  });

  it('shows the Input and Result panels and the copy buttons', () => {
    show(fixtures.seed);
    const input = screen.getByRole('region', { name: 'Input' });
    expect(within(input).getByTestId('retry-policy').textContent).toMatch(/^up to 5 attempts/);
    const result = screen.getByRole('region', { name: 'Result' });
    expect(within(result).getByTestId('result-outcome').textContent).toBe('Succeeded on attempt 2 of 5');
    expect(screen.getByRole('button', { name: 'Copy run id' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Copy curl command' })).toBeTruthy();
  });

  it('a live run forecasts its remaining attempts', () => {
    show(fixtures.waiting);
    const table = screen.getByRole('table', { name: 'Forecast of the remaining attempts' });
    expect(within(table).getAllByRole('row')).toHaveLength(1 + 3);
  });

  it('test tools: open by default for a run against the built-in simulator, after the run’s own content', () => {
    const { container } = show(fixtures.waiting);
    const toggle = screen.getByRole('button', { name: 'Test tools' });
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(screen.getByRole('group', { name: 'Operator actions' })).toBeTruthy();
    // Below the diagram and the attempts, not above them.
    const order = [...container.querySelectorAll('section[aria-labelledby] h2')].map((h) => h.textContent!.replace(/^[▾▸]\s*/, ''));
    expect(order.indexOf('Test tools')).toBeGreaterThan(order.indexOf('Attempts'));
    expect(order.indexOf('Test tools')).toBeGreaterThan(order.indexOf('Machine'));
    expect(order.indexOf('Attempts')).toBeGreaterThan(-1);
    fireEvent.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    expect(screen.queryByRole('group', { name: 'Operator actions' })).toBeNull();
  });

  it('test tools: closed for a run against any other target, and open on request', () => {
    const f = fixtures.waiting;
    const elsewhere: RunFixture = { ...f, run: { ...f.run, config: { ...f.run.config, target: { url: 'https://jobs.example.com/export' } } } };
    show(elsewhere);
    const toggle = screen.getByRole('button', { name: 'Test tools' });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    expect(screen.queryByRole('button', { name: 'Complete as success' })).toBeNull();
    fireEvent.click(toggle);
    expect(screen.getByRole('button', { name: 'Complete as success' })).toBeTruthy();
  });

  it.each(allFixtures.map((f) => [f.name, f] as const))('%s: the page says nothing in machine words (no `xstate.` anywhere in its text)', (_n, f) => {
    const { container } = show(f);
    expect(container.textContent).not.toContain('xstate.');
    // Time travel to every entry: the readout and the panels it changes stay in plain words too.
    const slider = screen.getByRole('slider', { name: 'Time travel' });
    f.events.forEach((_e, i) => {
      fireEvent.change(slider, { target: { value: String(i) } });
      expect(container.textContent, `at entry ${i}`).not.toContain('xstate.');
    });
  });

  it('shows times in local time with the zone named, and the verdicts in the API’s words', () => {
    const { container } = show(fixtures.seed);
    const created = screen.getByText('Created', { selector: 'dt' }).nextElementSibling!.querySelector('time')!;
    expect(created.textContent).toMatch(/^\d\d:\d\d:\d\d UTC · \d+ (s|min) ago$|^\d\d:\d\d:\d\d UTC · just now$/);
    expect(created.getAttribute('title')).toBe(fixtures.seed.run.createdAt);
    // No raw ISO instant as text beside the local ones.
    expect(container.textContent).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:/);
    const lane = within(screen.getByRole('list', { name: 'Callback lane' })).getAllByRole('listitem');
    expect(lane.map((m) => m.getAttribute('aria-label'))).toEqual(expect.arrayContaining([expect.stringMatching(/: 200 applied/)]));
    // The words the page puts on verdicts are the API's (the server's own sentences, "Success accepted.", are its data).
    expect(lane.map((m) => /: \d+ (\w+)/.exec(m.getAttribute('aria-label')!)![1])).toEqual(['late', 'applied', 'duplicate', 'conflict']);
  });

  it('the live view is the run’s log replayed through the machine; a log that lags the run falls back to the run itself', () => {
    const f = fixtures.waiting;
    const { container, rerender } = show(f);
    expect(container.querySelector('.run-page')!.getAttribute('data-snapshot-source')).toBe('replay');
    // The run has moved on (an action's answer), its log entries are still on the way.
    const lastApplied = f.events.filter((e) => e.verdict === 'applied').at(-1)!;
    rerender(<RunView run={f.run} events={f.events.filter((e) => e !== lastApplied)} now={f.now} connection={live} onRun={() => {}} />);
    expect(container.querySelector('.run-page')!.getAttribute('data-snapshot-source')).toBe('hydrated');
    expect(container.querySelector('[aria-current="step"][data-state-id]')!.getAttribute('data-state-id')).toBe(f.run.state);
  });

  it('rerun sends the edited payload and opens the new run', async () => {
    const fetch = vi.fn(async () => json(201, { ...fixtures.seed.run, id: 'run_new' }));
    vi.stubGlobal('fetch', fetch);
    window.scrollTo = () => {};
    show(fixtures.seed);
    fireEvent.click(screen.getByRole('button', { name: 'Rerun…' }));
    const payload = screen.getByLabelText(/Payload for the new run/);
    expect(JSON.parse((payload as HTMLTextAreaElement).value)).toEqual(fixtures.seed.run.config.payload);
    fireEvent.change(payload, { target: { value: '{"simulate":{"outcome":"success"}}' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Start new run' })));
    const [path, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(path).toBe('/api/runs/run_01seed/rerun');
    expect(JSON.parse(String(init.body))).toEqual({ payload: { simulate: { outcome: 'success' } } });
    expect(window.location.pathname).toBe('/runs/run_new');
  });
});

describe('Open in Stately inspector', () => {
  afterEach(() => vi.restoreAllMocks());

  /** A stand-in for the inspector window: what the real browser inspector posts to it. */
  function fakeInspectorWindow() {
    const posted: Array<{ type: string; sessionId?: string; event?: { type: string }; snapshot?: { value: unknown } }> = [];
    const win = { postMessage: (m: (typeof posted)[number]) => posted.push(m) } as unknown as Window;
    const open = vi.spyOn(window, 'open').mockReturnValue(win);
    // The Stately inspector says hello once loaded; the browser inspector then flushes what it held.
    const connect = () => act(() => window.dispatchEvent(new MessageEvent('message', { data: { type: '@statelyai.connected' } })));
    return { posted, open, connect };
  }

  it('opens the inspector and replays the whole log through the machine, then keeps sending new entries', async () => {
    const { posted, open, connect } = fakeInspectorWindow();
    const f = fixtures.waiting;
    const view = show(f);
    const button = screen.getByRole('button', { name: 'Open in Stately inspector' }) as HTMLButtonElement;
    await waitFor(() => expect(button.disabled).toBe(false)); // @statelyai/inspect is its own chunk, loaded on mount
    fireEvent.click(button);
    expect(open).toHaveBeenCalledWith('https://stately.ai/inspect', 'xstateinspector');
    expect(posted).toHaveLength(0); // held until the inspector window is ready
    connect();

    const applied = f.events.filter((e) => e.verdict === 'applied');
    expect(posted.map((m) => m.type)).toEqual(['@xstate.actor', ...applied.flatMap(() => ['@xstate.event', '@xstate.snapshot'])]);
    expect(new Set(posted.map((m) => m.sessionId))).toEqual(new Set([f.run.id]));
    expect(posted.filter((m) => m.type === '@xstate.event').map((m) => m.event!.type)).toEqual(applied.map((e) => e.type));
    expect(posted[posted.length - 1]!.snapshot!.value).toEqual({ attempt: 'awaitingCallback' });

    // A success callback lands while the inspector is open.
    const attemptId = f.run.attempts[1]!.id;
    const at = f.now + 100;
    const callback = {
      seq: f.events.length,
      at: new Date(at).toISOString(),
      type: 'callback.received',
      source: 'callback' as const,
      verdict: 'applied' as const,
      attemptId,
      httpStatus: 200,
      stateAfter: 'succeeded',
      event: { type: 'callback.received', attemptId, success: true, at },
    };
    view.rerender(<RunView run={f.run} events={[...f.events, callback]} now={f.now} connection={live} onRun={() => {}} />);
    expect(posted.slice(-2).map((m) => m.type)).toEqual(['@xstate.event', '@xstate.snapshot']);
    expect(posted[posted.length - 1]!.snapshot!.value).toBe('succeeded');
  });
});
