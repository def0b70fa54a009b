/**
 * Journey 6, second half: the list's derived filters — decided by the server with the shared predicates — find the
 * runs a person is looking for: Retrying (attempt 2 or later, not final), In backoff (waiting out a delay), Exhausted.
 */
import type { Run, RunConfig } from '@tether/machine';
import { createRun, simulatedRun, waitForRun, type Simulate } from '../support/api.ts';
import { expect, test } from '../support/fixtures.ts';

test('the Retrying and In backoff filters find the right runs', async ({ page, request, tetherUrl }) => {
  // A tag of its own, so runs left by other journeys on this server stay out of the counts.
  const tag = `filters-${Date.now().toString(36)}`;
  const make = (label: string, simulate: Simulate, timing: Pick<RunConfig, 'timeoutSeconds' | 'retryLimit' | 'backoff'>) =>
    createRun(request, simulatedRun(tetherUrl, simulate, { ...timing, name: `${tag} ${label}` }));

  const waiting = await make('first attempt waiting', { outcome: 'never' }, { timeoutSeconds: 120, retryLimit: 2 });
  const firstBackoff = await make(
    'first backoff',
    { outcome: 'triggerError' },
    { timeoutSeconds: 120, retryLimit: 3, backoff: { initialSeconds: 120 } },
  );
  const secondWaiting = await make(
    'second attempt waiting',
    { perAttempt: ['triggerError', 'never'] },
    { timeoutSeconds: 120, retryLimit: 3, backoff: { initialSeconds: 0.2 } },
  );
  // 0.5 s before attempt 2, then 50 s before attempt 3: retrying and in backoff at once.
  const secondBackoff = await make(
    'second backoff',
    { outcome: 'triggerError' },
    { timeoutSeconds: 120, retryLimit: 3, backoff: { initialSeconds: 0.5, multiplier: 100 } },
  );
  const exhausted = await make('exhausted', { outcome: 'triggerError' }, { timeoutSeconds: 120, retryLimit: 1, backoff: { initialSeconds: 0.2 } });
  const succeeded = await make('succeeded', { outcome: 'success', delaySeconds: 0 }, { timeoutSeconds: 120, retryLimit: 2 });

  const at = (state: string, attempt: number) => (r: Run) => r.state === state && r.attempt === attempt;
  await Promise.all([
    waitForRun(request, waiting.id, 'attempt 1 waiting', at('awaitingCallback', 1)),
    waitForRun(request, firstBackoff.id, 'backoff after attempt 1', at('retrying', 1)),
    waitForRun(request, secondWaiting.id, 'attempt 2 waiting', at('awaitingCallback', 2)),
    waitForRun(request, secondBackoff.id, 'backoff after attempt 2', at('retrying', 2)),
    waitForRun(request, exhausted.id, 'failed after 2 attempts', at('failed', 2)),
    waitForRun(request, succeeded.id, 'succeeded', at('succeeded', 1)),
  ]);

  await page.goto('/');
  await page.getByLabel('Name', { exact: true }).fill(tag);
  await expect(page).toHaveURL(new RegExp(`[?&]name=${tag}`));
  const rows = page.getByRole('table', { name: 'Runs', exact: true }).locator('tbody tr');
  await expect(rows).toHaveCount(6);
  const shownIds = async () => (await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.runId))).sort();

  // Served by the API (derived=…), decided on the server clock by the shared predicates: counted over every run
  // on the server that matches, not over the page.
  const attention = page.getByLabel('Needs attention', { exact: true });
  await attention.selectOption({ label: 'Retrying' });
  await expect(page).toHaveURL(/[?&]derived=retrying/);
  await expect(rows).toHaveCount(2);
  expect(await shownIds()).toEqual([secondWaiting.id, secondBackoff.id].sort());
  await expect(page.getByText(/^2 of 2$|^1–2 of 2$/)).toBeVisible();

  await attention.selectOption({ label: 'In backoff' });
  await expect(page).toHaveURL(/[?&]derived=inBackoff/);
  await expect(rows).toHaveCount(2);
  expect(await shownIds()).toEqual([firstBackoff.id, secondBackoff.id].sort());
  for (const tr of await rows.all()) await expect(tr).toHaveAttribute('data-state', 'retrying');

  await attention.selectOption({ label: 'Exhausted' });
  await expect(rows).toHaveCount(1);
  expect(await shownIds()).toEqual([exhausted.id]);

  // The filter lives in the URL: a reload (or a shared link) shows the same runs.
  await attention.selectOption({ label: 'In backoff' });
  await expect(rows).toHaveCount(2);
  await page.reload();
  await expect(page.getByLabel('Needs attention', { exact: true })).toHaveValue('inBackoff');
  await expect(rows).toHaveCount(2);
  expect(await shownIds()).toEqual([firstBackoff.id, secondBackoff.id].sort());

  await page.getByRole('button', { name: 'Clear filters' }).first().click();
  await expect(page).not.toHaveURL(/derived=/);
  // Clearing also drops the name filter: every run on the server is listed again, ours among them.
  await expect(page.getByRole('link', { name: new RegExp(`${tag} succeeded`) })).toBeVisible();
});
