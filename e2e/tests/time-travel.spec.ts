/**
 * Issue 7: the time-travel scrubber rebuilds the run at an instant of its history by replaying its event log through
 * the shared machine; the diagram and the attempts table show that instant, and "back to live" returns to now.
 */
import type { RunEventEntry } from '@tether/machine';
import { createRun, simulatedRun, waitForRun } from '../support/api.ts';
import { expect, test } from '../support/fixtures.ts';
import { attemptRows, expectCurrentState } from '../support/ui.ts';

test('scrubbing back to the moment attempt 1 timed out shows the machine and attempts as they were', async ({ page, request, tetherUrl }) => {
  const run = await createRun(
    request,
    simulatedRun(
      tetherUrl,
      { perAttempt: ['never', 'success'], delaySeconds: 0.3 },
      {
        name: 'time travel e2e',
        timeoutSeconds: 1.5,
        retryLimit: 2,
        backoff: { initialSeconds: 0.5 },
      },
    ),
  );
  await waitForRun(request, run.id, 'succeeded', (r) => r.status === 'succeeded', 20_000);
  const { events } = (await (await request.get(`/api/runs/${run.id}/events`)).json()) as { events: RunEventEntry[] };
  const timedOut = events.findIndex((e) => e.type.startsWith('xstate.after.attemptTimeout') && e.verdict === 'applied');
  expect(timedOut, 'the log holds attempt 1 timing out').toBeGreaterThan(0);

  await page.goto(`/runs/${run.id}`);
  await expectCurrentState(page, 'succeeded');
  await expect(attemptRows(page)).toHaveCount(2);

  const slider = page.getByRole('slider', { name: 'Time travel' });
  await slider.fill(String(timedOut));
  await expect(page.locator('.machine-view')).toHaveAttribute('data-viewing', 'history');
  await expect(page.getByRole('status').filter({ hasText: 'Viewing history at' })).toBeVisible();
  // Right after the timeout the run was in backoff, with one attempt, timed out.
  await expectCurrentState(page, 'retrying');
  await expect(attemptRows(page)).toHaveCount(1);
  await expect(attemptRows(page).first()).toContainText('TimedOut');

  // One step back: attempt 1 was still waiting for its callback.
  await page.getByRole('button', { name: 'Previous event' }).click();
  await expectCurrentState(page, 'awaitingCallback');

  await page.getByRole('button', { name: 'back to live' }).click();
  await expect(page.locator('.machine-view')).toHaveAttribute('data-viewing', 'live');
  await expectCurrentState(page, 'succeeded');
  await expect(attemptRows(page)).toHaveCount(2);
});
