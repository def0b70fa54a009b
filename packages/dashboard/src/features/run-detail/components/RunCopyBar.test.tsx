import { act, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fixtures } from '../../../test/fixtures.ts';
import { RunCopyBar } from './RunCopyBar.tsx';

describe('RunCopyBar', () => {
  const writeText = vi.fn(async (_text: string) => {});
  beforeEach(() => {
    writeText.mockClear();
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
  });
  afterEach(() => {
    Reflect.deleteProperty(navigator, 'clipboard');
  });

  it('copies the run id and says so', async () => {
    render(<RunCopyBar run={fixtures.waiting.run} />);
    const button = screen.getByRole('button', { name: 'Copy run id' });
    await act(async () => fireEvent.click(button));
    expect(writeText).toHaveBeenCalledWith('run_02live');
    expect(button.textContent).toBe('Copied');
  });

  it('copies the current attempt’s callback URL and a success curl for it', async () => {
    const url = fixtures.waiting.run.attempts[1]!.callbackUrl!;
    render(<RunCopyBar run={fixtures.waiting.run} />);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Copy callback URL' })));
    expect(writeText).toHaveBeenLastCalledWith(url);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Copy curl command' })));
    expect(writeText).toHaveBeenLastCalledWith(`curl -X POST '${url}' -H 'content-type: application/json' -d '{"success":true}'`);
    expect(screen.getByRole('button', { name: 'Copy curl command' }).textContent).toBe('Copied');
  });

  it('offers only the run id when there is no attempt', () => {
    render(<RunCopyBar run={{ ...fixtures.waiting.run, attempts: [] }} />);
    expect(screen.getByRole('button', { name: 'Copy run id' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Copy callback URL' })).toBeNull();
  });
});
