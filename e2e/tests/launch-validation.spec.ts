/**
 * Journey 6, first half: invalid launch input is shown next to its field. The form checks what the shared
 * `parseRunConfig` checks before sending anything; the server alone knows its target allow-list, so a URL outside it
 * passes the form and comes back as the server's 400 — which must land next to the Target URL field too.
 */
import type { ErrorBody } from '@tether/machine/protocol';
import { simulatorUrl } from '../support/api.ts';
import { expect, test } from '../support/fixtures.ts';
import { currentRunId, fillLaunchForm } from '../support/ui.ts';

// This file gets a server of its own, started with an allow-list (its own simulator stays allowed).
test.use({ tetherEnv: { TETHER_ALLOWED_TARGETS: 'jobs.internal' } });

test('launch errors appear next to their field: the form’s own check, then the server’s 400', async ({ page, tetherUrl }) => {
  const posts: string[] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/runs') posts.push(r.url());
  });
  await page.goto('/runs/new?preset=success');
  const launch = page.getByRole('button', { name: 'Launch run' });
  const retryLimit = page.getByLabel('Retry limit', { exact: true });
  const url = page.getByLabel('Target URL', { exact: true });

  // Client side: a required field left empty is named at the field, and nothing is sent.
  await retryLimit.fill('');
  await launch.click();
  await expect(retryLimit).toHaveAttribute('aria-invalid', 'true');
  await expect(retryLimit).toHaveAccessibleDescription(/^retryLimit is required/);
  await expect(page.getByRole('alert')).toHaveText('1 field needs fixing before launch.');
  expect(posts).toHaveLength(0);
  await retryLimit.fill('1');
  await expect(retryLimit).not.toHaveAttribute('aria-invalid', 'true');

  // Server side: a well-formed URL the form accepts, outside the server's allow-list.
  await fillLaunchForm(page, { url: 'http://example.test/jobs' });
  await expect(url).not.toHaveAttribute('aria-invalid', 'true');
  const refused = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/runs');
  await launch.click();
  const res = await refused;
  expect(res.status()).toBe(400);
  const body = (await res.json()) as ErrorBody;
  expect(body.error.code).toBe('TETHER_TARGET_NOT_ALLOWED');
  // The form places it by `fields`, not by parsing the message.
  expect(body.error.fields).toEqual([{ path: 'target.url', message: 'http://example.test is not in TETHER_ALLOWED_TARGETS' }]);

  await expect(url).toHaveAttribute('aria-invalid', 'true');
  await expect(url).toHaveAccessibleDescription(/^target\.url http:\/\/example\.test is not in TETHER_ALLOWED_TARGETS/);
  // Shown by the field it is about, and only there.
  const urlField = page.locator('.field').filter({ has: url });
  await expect(urlField.getByText('target.url http://example.test is not in TETHER_ALLOWED_TARGETS')).toBeVisible();
  await expect(page.getByText(/is not in TETHER_ALLOWED_TARGETS/)).toHaveCount(1);
  await expect(page).toHaveURL(/\/runs\/new/);

  // Editing the field clears the server's complaint; the simulator is allowed and the run starts.
  await fillLaunchForm(page, { url: simulatorUrl(tetherUrl) });
  await expect(url).not.toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByText(/is not in TETHER_ALLOWED_TARGETS/)).toHaveCount(0);
  await launch.click();
  await currentRunId(page);
  expect(posts).toHaveLength(2);
});
