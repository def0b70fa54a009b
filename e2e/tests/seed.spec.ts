/**
 * Journeys 1 and 2: the seed's scenario launched from the form, watched live to success; late callbacks to an attempt
 * that already timed out are answered 410 and drawn on the callback lane.
 */
import { getRun } from '../support/api.ts';
import { expect, test } from '../support/fixtures.ts';
import { attemptRows, callbackLane, currentStepNodes, expectCurrentState, fillLaunchForm, launchFromForm, timelineAttempt } from '../support/ui.ts';

test('the seed scenario from the form: attempt 1 times out, a backoff gap, attempt 2 succeeds', async ({ page, request }) => {
  await page.goto('/runs/new?preset=seed');
  await expect(page.getByRole('radio', { name: /Seed scenario/ })).toBeChecked();
  // The preset's simulator answers attempt 2 after 2 s; a 5 s timeout leaves room for that on a busy machine and
  // keeps the run short. The 6 s backoff is the window in which the page must show the backoff (and offer Retry
  // now): long enough for a loaded machine's browser to render it.
  await fillLaunchForm(page, { name: 'seed e2e', timeoutSeconds: '5', initialSeconds: '6' });
  const forecast = page.getByRole('table', { name: 'Forecast if launched now' });
  await expect(forecast.locator('tbody tr')).toHaveCount(5);
  await expect(forecast.locator('[data-forecast-attempt="2"]')).toContainText('6.0 s');

  await page.getByRole('button', { name: 'Launch run' }).click();
  await expect(page).toHaveURL(/\/runs\/run_/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('seed e2e');

  // Attempt 1 waits for a callback that never comes.
  await expectCurrentState(page, 'awaitingCallback');
  await expect(timelineAttempt(page, 1)).toHaveAttribute('data-state', 'AwaitingCallback');
  await expect(page.getByRole('timer', { name: /^Attempt 1 times out/ })).toBeVisible();

  // It times out; the run waits out its backoff, drawn as a gap before attempt 2.
  await expect(timelineAttempt(page, 1)).toHaveAttribute('data-state', 'TimedOut', { timeout: 10_000 });
  await expectCurrentState(page, 'retrying');
  await expect(page.getByRole('button', { name: 'Retry now' })).toBeEnabled();
  await expect(page.getByTestId('backoff-before-2')).toBeVisible();
  await expect(page.getByTestId('backoff-before-2')).toContainText('backoff 6.0 s');

  // Attempt 2 succeeds; the diagram ends on `succeeded`.
  await expectCurrentState(page, 'succeeded', 20_000);
  await expect(currentStepNodes(page)).toHaveCount(1);
  await expect(timelineAttempt(page, 2)).toHaveAttribute('data-state', 'CallbackSuccess');
  await expect(page.getByTestId('backoff-before-2')).toBeVisible();
  await expect(page.getByTestId('attempt-fact')).toHaveText(/^2 of 5/);

  await expect(attemptRows(page)).toHaveCount(2);
  await expect(attemptRows(page).nth(0)).toContainText('TimedOut');
  await expect(attemptRows(page).nth(1)).toContainText('CallbackSuccess');
  await expect(attemptRows(page).nth(1).getByRole('cell', { name: 'yes', exact: true })).toBeVisible();
  await expect(callbackLane(page).locator('[data-verdict="applied"][data-http-status="200"]')).toHaveCount(1);

  // What the page showed is what the server holds.
  const id = /run_[A-Za-z0-9_-]+/.exec(page.url())![0];
  const run = await getRun(request, id);
  expect(run.status).toBe('succeeded');
  expect(run.attempts.map((a) => a.state)).toEqual(['TimedOut', 'CallbackSuccess']);
  // The gap the timeline draws is the real one: attempt 2 started after the 6 s backoff.
  const [a1, a2] = run.attempts;
  expect(Date.parse(a2!.started) - Date.parse(a1!.endedAt!)).toBeGreaterThanOrEqual(6_000);

  // Journey 2, from the callback console: the external system calls attempt 1 back now, long after it timed out.
  await page.getByRole('button', { name: 'Late, to attempt #1' }).click();
  await expect(page.getByText(/POST to attempt #1 \(late\): HTTP 410/)).toBeVisible();
  const late = callbackLane(page).locator('[data-verdict="late"]');
  await expect(late).toHaveCount(1);
  await expect(late).toHaveAttribute('data-http-status', '410');
  await expect(late).toHaveAccessibleName(/^callback for attempt 1 at .*: 410 late/);
  // A late callback changes nothing.
  await expectCurrentState(page, 'succeeded');
  expect((await getRun(request, id)).attempts[0]!.state).toBe('TimedOut');
});

test('a late callback from the external system appears on the callback lane with its 410', async ({ page }) => {
  // The simulator's "late" outcome calls back 1 s after the attempt's deadline.
  await launchFromForm(page, 'late', { name: 'late e2e', timeoutSeconds: '2', retryLimit: '0' });
  await expectCurrentState(page, 'failed', 10_000);
  await expect(timelineAttempt(page, 1)).toHaveAttribute('data-state', 'TimedOut');

  const late = callbackLane(page).locator('[data-verdict="late"]');
  await expect(late).toHaveCount(1, { timeout: 10_000 });
  await expect(late).toHaveAttribute('data-http-status', '410');
  await expect(late).toHaveAccessibleName(/^callback for attempt 1 at .*: 410 late/);
  await expect(late).toHaveText(/410/);
  await expect(page.getByRole('table', { name: 'Attempts', exact: true }).locator('tbody tr')).toHaveCount(1);
});
