/**
 * Journeys 3 and 4: what an operator does to a run from its page — cancel it while it waits, skip a backoff with
 * "Retry now", rerun it with an edited payload, settle the current attempt from the callback console, force a timeout.
 * The runs are set up through the API; everything the journey is about happens in the page.
 */
import { createRun, getRun, simulatedRun } from '../support/api.ts';
import { expect, test } from '../support/fixtures.ts';
import { attemptRows, callbackLane, currentRunId, expectCurrentState, timelineAttempt } from '../support/ui.ts';

test.describe('run actions', () => {
  test('cancel a waiting run', async ({ page, request, tetherUrl }) => {
    const run = await createRun(request, simulatedRun(tetherUrl, { outcome: 'never' }, { name: 'cancel e2e', timeoutSeconds: 120, retryLimit: 2 }));
    await page.goto(`/runs/${run.id}`);
    await expectCurrentState(page, 'awaitingCallback');

    await page.getByRole('button', { name: 'Cancel run…' }).click();
    const form = page.getByRole('form', { name: 'Cancel the run' });
    await form.getByLabel(/^Reason/).fill('wrong customer');
    await form.getByRole('button', { name: 'Cancel run', exact: true }).click();

    await expectCurrentState(page, 'cancelled');
    await expect(timelineAttempt(page, 1)).toHaveAttribute('data-state', 'Cancelled');
    await expect(attemptRows(page).nth(0)).toContainText('Cancelled: wrong customer');
    await expect(page.getByRole('button', { name: 'Cancel run…' })).toBeDisabled();
    await expect(page.getByRole('button', { name: 'Complete as success' })).toBeDisabled();

    const after = await getRun(request, run.id);
    expect(after.status).toBe('cancelled');
    expect(after.nextDueAt).toBeNull();
  });

  test('retry now during a backoff starts the next attempt at once', async ({ page, request, tetherUrl }) => {
    const run = await createRun(
      request,
      simulatedRun(
        tetherUrl,
        { perAttempt: ['triggerError', 'never'] },
        { name: 'retry-now e2e', timeoutSeconds: 120, retryLimit: 2, backoff: { initialSeconds: 60 } },
      ),
    );
    await page.goto(`/runs/${run.id}`);
    // Attempt 1's trigger fails; the run settles into a 60 s backoff, shown as attempt 2 to come.
    await expectCurrentState(page, 'retrying');
    await expect(timelineAttempt(page, 1)).toHaveAttribute('data-state', 'TriggerFailed');
    await expect(page.getByRole('listitem', { name: /^Attempt 2 starts at/ })).toBeVisible();
    await expect(page.getByRole('timer', { name: /^Attempt 2 starts/ })).toBeVisible();
    const retryDue = Date.parse((await getRun(request, run.id)).retryDue!);

    const retryNow = page.getByRole('button', { name: 'Retry now' });
    await expect(retryNow).toBeEnabled();
    await retryNow.click();

    await expectCurrentState(page, 'awaitingCallback');
    await expect(timelineAttempt(page, 2)).toHaveAttribute('data-state', 'AwaitingCallback');
    await expect(page.getByRole('listitem', { name: /^Attempt 2 starts at/ })).toHaveCount(0);
    await expect(retryNow).toBeDisabled();
    await expect(page.getByTestId('attempt-fact')).toHaveText(/^2 of 3/);

    const after = await getRun(request, run.id);
    expect(after.attempts).toHaveLength(2);
    // Started now, not at the end of the backoff.
    expect(Date.parse(after.attempts[1]!.started)).toBeLessThan(retryDue - 30_000);
  });

  test('rerun with an edited payload', async ({ page, request, tetherUrl }) => {
    const original = await createRun(
      request,
      simulatedRun(tetherUrl, { outcome: 'triggerError' }, { name: 'rerun e2e', timeoutSeconds: 30, retryLimit: 0, payload: { customer: 'acme' } }),
    );
    await page.goto(`/runs/${original.id}`);
    await expectCurrentState(page, 'failed');

    await page.getByRole('button', { name: 'Rerun…' }).click();
    const form = page.getByRole('form', { name: 'Rerun with the same configuration' });
    const payload = form.getByLabel(/^Payload for the new run/);
    await expect(payload).toHaveValue(/"customer": "acme"/);

    // Broken JSON is caught next to the field, and nothing is started.
    await payload.fill('{ "customer": ');
    await form.getByRole('button', { name: 'Start new run' }).click();
    await expect(payload).toHaveAttribute('aria-invalid', 'true');
    await expect(payload).toHaveAccessibleDescription(/payload is not valid JSON/);
    await expect(page).toHaveURL(new RegExp(`/runs/${original.id}$`));

    const edited = { customer: 'acme-2', simulate: { outcome: 'success', delaySeconds: 0.5 } };
    await payload.fill(JSON.stringify(edited, null, 2));
    await form.getByRole('button', { name: 'Start new run' }).click();

    await expect(page).not.toHaveURL(new RegExp(`/runs/${original.id}$`));
    const rerunId = await currentRunId(page);
    await expect(page.getByText(`Re-run of ${original.id}`, { exact: true })).toBeVisible();
    await expect(page.getByRole('link', { name: original.id })).toHaveAttribute('href', `/runs/${original.id}`);
    // The edited payload made the simulator succeed this time.
    await expectCurrentState(page, 'succeeded', 10_000);
    await expect(attemptRows(page).nth(0)).toContainText('CallbackSuccess');

    const rerun = await getRun(request, rerunId);
    expect(rerun.rerunOf).toBe(original.id);
    expect(rerun.config.payload).toEqual(edited);
    expect(rerun.config.timeoutSeconds).toBe(30);
    expect((await getRun(request, original.id)).status).toBe('failed');
  });

  test('an operator completes the current attempt from the callback console', async ({ page, request, tetherUrl }) => {
    const run = await createRun(request, simulatedRun(tetherUrl, { outcome: 'never' }, { name: 'operator e2e', timeoutSeconds: 120, retryLimit: 2 }));
    await page.goto(`/runs/${run.id}`);
    await expectCurrentState(page, 'awaitingCallback');
    await expect(page.getByText(/Attempt #1 .* waiting for its callback\./)).toBeVisible();
    await expect(page.getByTestId('callback-curl')).toContainText(run.attempts[0]!.callbackUrl!);

    await page.getByLabel('Message sent with the callback (optional)').fill('Export finished by hand');
    await page.getByRole('group', { name: 'Operator actions' }).getByRole('button', { name: 'Complete as success' }).click();

    await expectCurrentState(page, 'succeeded');
    await expect(timelineAttempt(page, 1)).toHaveAttribute('data-state', 'CallbackSuccess');
    await expect(attemptRows(page).nth(0)).toContainText('Export finished by hand');
    await expect(callbackLane(page).getByRole('listitem', { name: /^operator for attempt 1 at .*: 200 applied/ })).toBeVisible();

    const after = await getRun(request, run.id);
    expect(after.status).toBe('succeeded');
    expect(after.attempts[0]!.isSuccess).toBe(true);
    expect(after.attempts[0]!.message).toBe('Export finished by hand');
  });

  test('an operator forces a timeout; the run goes into its backoff', async ({ page, request, tetherUrl }) => {
    const run = await createRun(
      request,
      simulatedRun(
        tetherUrl,
        { outcome: 'never' },
        { name: 'force-timeout e2e', timeoutSeconds: 120, retryLimit: 1, backoff: { initialSeconds: 60 } },
      ),
    );
    await page.goto(`/runs/${run.id}`);
    await expectCurrentState(page, 'awaitingCallback');

    await page.getByRole('button', { name: 'Force timeout' }).click();

    await expect(timelineAttempt(page, 1)).toHaveAttribute('data-state', 'TimedOut');
    await expect(attemptRows(page).nth(0)).toContainText('Timed out by an operator.');
    await expectCurrentState(page, 'retrying');
    await expect(page.getByRole('listitem', { name: /^Attempt 2 starts at/ })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Force timeout' })).toBeDisabled();

    const after = await getRun(request, run.id);
    const a1 = after.attempts[0]!;
    expect(a1.state).toBe('TimedOut');
    // Long before its own deadline.
    expect(Date.parse(a1.endedAt!)).toBeLessThan(Date.parse(a1.timeoutDue) - 60_000);
  });
});
