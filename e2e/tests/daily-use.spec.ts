/**
 * Daily use: what a person reads on a finished run (input and output), plain words (no XState internals), every bad
 * launch field at once, a bulk cancel of a filtered set with its confirmation and per-run results, and no sideways
 * scrolling on a phone.
 */
import type { Run } from '@tether/machine/protocol';
import { createRun, getRun, simulatedRun, waitForRun } from '../support/api.ts';
import { expect, test } from '../support/fixtures.ts';
import type { Page } from '@playwright/test';

const noHorizontalOverflow = async (page: Page) =>
  page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));

test('a finished seed run shows its input and its output', async ({ page, request, tetherUrl }) => {
  const run = await createRun(
    request,
    simulatedRun(
      tetherUrl,
      { perAttempt: ['never', 'success'], delaySeconds: 0 },
      {
        name: 'daily input-output',
        timeoutSeconds: 2,
        retryLimit: 2,
        backoff: { initialSeconds: 0.2 },
        payload: { report: 'monthly' },
      },
    ),
  );
  await waitForRun(request, run.id, 'succeeded on attempt 2', (r) => r.status === 'succeeded', 30_000);
  await page.goto(`/runs/${run.id}`);

  const input = page.getByRole('region', { name: 'Input' });
  await expect(input.getByTestId('input-target')).toContainText('/simulator/jobs');
  await expect(input.getByTestId('retry-policy')).toContainText('up to 3 attempts');
  await expect(input.getByLabel('Payload')).toContainText('"report": "monthly"');

  const result = page.getByRole('region', { name: 'Result' });
  await expect(result.getByTestId('result-outcome')).toHaveText('Succeeded on attempt 2 of 3');
  // The simulator's success callback sends { simulated: true, attempt: 2 } as its output.
  await expect(result.getByLabel('Output')).toContainText('"simulated": true');
  await expect(result.getByLabel('Output')).toContainText('"attempt": 2');

  // Plain words: nothing on the page speaks XState.
  await expect(page.locator('main')).not.toContainText('xstate.');
});

test('three bad launch fields are shown at once', async ({ page }) => {
  await page.goto('/runs/new?preset=success');
  await page.getByLabel('Timeout per attempt (s)', { exact: true }).fill('0');
  await page.getByLabel('Retry limit', { exact: true }).fill('-1');
  await page.getByLabel('Payload (JSON)', { exact: true }).fill('{ "simulate": { "outcome": "sucess" } }');
  await page.getByRole('button', { name: 'Launch run' }).click();
  await expect(page.getByRole('alert')).toHaveText('3 fields need fixing before launch.');
  await expect(page.getByLabel('Timeout per attempt (s)', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('Retry limit', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('Payload (JSON)', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('Payload (JSON)', { exact: true })).toHaveAccessibleDescription(/payload\.simulate\.outcome/);
  await expect(page).toHaveURL(/\/runs\/new/);
});

test('bulk cancel of a filtered set: a confirmation that names what is skipped, then a result per run', async ({ page, request, tetherUrl }) => {
  const tag = `bulk-${Date.now().toString(36)}`;
  const make = (label: string, outcome: 'never' | 'success') =>
    createRun(request, simulatedRun(tetherUrl, { outcome, delaySeconds: 0 }, { name: `${tag} ${label}`, timeoutSeconds: 120, retryLimit: 0 }));
  const waiting: Run[] = [await make('waiting 1', 'never'), await make('waiting 2', 'never'), await make('waiting 3', 'never')];
  const done = await make('done', 'success');
  await waitForRun(request, done.id, 'succeeded', (r) => r.status === 'succeeded');

  await page.goto(`/?name=${tag}`);
  const rows = page.getByRole('table', { name: 'Runs', exact: true }).locator('tbody tr');
  await expect(rows).toHaveCount(4);
  await page.getByLabel('Select all runs on this page').check();
  await page.getByRole('toolbar', { name: 'Bulk actions' }).getByRole('button', { name: 'Cancel' }).click();

  const dialog = page.getByRole('dialog', { name: 'Cancel runs' });
  await expect(dialog).toContainText('3 will be cancelled');
  await expect(dialog.getByRole('list', { name: 'Skipped runs' }).getByRole('listitem')).toHaveCount(1);
  await expect(dialog.getByRole('list', { name: 'Skipped runs' })).toContainText('already final (succeeded)');
  await dialog.getByRole('button', { name: 'Confirm' }).click();

  const results = dialog.getByRole('table', { name: 'Results' });
  await expect(results.locator('tbody tr')).toHaveCount(4);
  for (const r of waiting) await expect(results.locator('tbody tr', { hasText: r.id })).toContainText(/cancelled|done/i);
  await expect(results.locator('tbody tr', { hasText: done.id })).toContainText(/skipped/i);
  for (const r of waiting) expect((await getRun(request, r.id)).status).toBe('cancelled');
  expect((await getRun(request, done.id)).status).toBe('succeeded');
});

test.describe('on a phone (390×844)', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test('no page scrolls sideways: the list (cards) and a run page', async ({ page, request, tetherUrl }) => {
    const run = await createRun(
      request,
      simulatedRun(
        tetherUrl,
        { perAttempt: ['never', 'never', 'success'], delaySeconds: 0 },
        {
          name: 'a phone-sized run with a rather long name that must wrap',
          timeoutSeconds: 1,
          retryLimit: 3,
          backoff: { initialSeconds: 0.2 },
        },
      ),
    );
    await waitForRun(request, run.id, 'succeeded', (r) => r.status === 'succeeded', 30_000);

    await page.goto('/');
    await expect(page.getByRole('link', { name: /a phone-sized run/ })).toBeVisible();
    let size = await noHorizontalOverflow(page);
    expect(size.scrollWidth, 'the list page scrolls sideways').toBeLessThanOrEqual(size.clientWidth);

    await page.goto(`/runs/${run.id}`);
    await expect(page.getByRole('heading', { level: 1 })).toContainText('a phone-sized run');
    await expect(page.getByRole('region', { name: 'Result' })).toBeVisible();
    size = await noHorizontalOverflow(page);
    expect(size.scrollWidth, 'the run page scrolls sideways').toBeLessThanOrEqual(size.clientWidth);
  });
});
