/**
 * Takes the README's screenshots from a running Tether server (which serves the built dashboard at /) with Debian's
 * Chromium, at 1280×800 and (the `-mobile` ones) at 390×844:
 *
 *   docs/screenshots/runs-list.png          the list, with runs of mixed outcomes launched by this script
 *   docs/screenshots/launch.png             the launch form with the seed preset and its retry forecast
 *   docs/screenshots/run-detail.png         the seed scenario launched from that form, once it has succeeded
 *   docs/screenshots/time-travel.png        the same run's machine, next steps and attempts as they were when attempt 1 timed out
 *   docs/screenshots/bulk-cancel.png        a bulk cancel's confirmation (its dry run) for four ticked runs; left with Back
 *   docs/screenshots/runs-list-mobile.png   the list on a phone: one card a run
 *   docs/screenshots/run-detail-mobile.png  the seed run's page on a phone
 *
 *   pnpm --filter @tether/dashboard build && pnpm --filter @tether/server start     # another terminal
 *   TETHER_URL=http://127.0.0.1:3000 pnpm --filter @tether/dashboard screenshots
 *
 * Use a fresh data directory: the list shows whatever the server holds, and the bulk dialog's counts assume only this
 * script's runs. SCREENSHOTS_EXTRA=<dir> also saves full-page views there (and 1024-px-wide ones of the desktop
 * pictures), for checking the layout below the fold.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from '@playwright/test';
import type { Run, RunConfig } from '@tether/machine';

const BASE = (process.env.TETHER_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
const OUT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'screenshots');
const EXTRA = process.env.SCREENSHOTS_EXTRA ? resolve(process.env.SCREENSHOTS_EXTRA) : null;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const headers: Record<string, string> = { 'content-type': 'application/json' };
if (process.env.TETHER_API_TOKEN) headers.authorization = `Bearer ${process.env.TETHER_API_TOKEN}`;

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${BASE}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

const sim = (name: string, simulate: unknown, timing: Partial<RunConfig>): RunConfig => ({
  name,
  target: { url: `${BASE}/simulator/jobs` },
  payload: { simulate },
  timeoutSeconds: 5,
  retryLimit: 2,
  backoff: { initialSeconds: 1 },
  ...timing,
});

/**
 * Runs that give the list something to show — finished each way, waiting, backing off, cancelled — and enough of
 * them to fill the list at 1280×800 (one screenful is 18 rows and a bit).
 */
async function launchBackgroundRuns(): Promise<void> {
  const runs: RunConfig[] = [
    sim('nightly export', { outcome: 'success', delaySeconds: 1 }, {}),
    sim('invoice sync', { outcome: 'failure', delaySeconds: 1 }, { retryLimit: 2 }),
    sim('crm import', { outcome: 'triggerError' }, { retryLimit: 5, backoff: { initialSeconds: 600, maxSeconds: 600 } }),
    sim('report build', { outcome: 'never' }, { timeoutSeconds: 900, retryLimit: 3 }),
    sim('ledger close', { perAttempt: ['failure', 'never'], delaySeconds: 1 }, { timeoutSeconds: 600, retryLimit: 3 }),
    sim('webhook relay', { outcome: 'late', delaySeconds: 1 }, { timeoutSeconds: 2, retryLimit: 1 }),
    sim('search reindex', { outcome: 'success', delaySeconds: 2 }, {}),
    sim('thumbnail batch', { perAttempt: ['failure', 'success'], delaySeconds: 1 }, { retryLimit: 3 }),
    sim('payroll preview', { outcome: 'never' }, { timeoutSeconds: 1800, retryLimit: 1 }),
    sim('fx rates pull', { outcome: 'triggerError' }, { retryLimit: 1 }),
    sim('email digest', { outcome: 'success', delaySeconds: 1 }, {}),
    sim('warehouse load', { perAttempt: ['triggerError', 'never'] }, { timeoutSeconds: 1200, retryLimit: 2 }),
    sim('partner feed', { outcome: 'failure', delaySeconds: 1 }, { retryLimit: 4, backoff: { initialSeconds: 900, maxSeconds: 900 } }),
    sim('audit archive', { outcome: 'success', delaySeconds: 3 }, {}),
    sim('catalog sync', { outcome: 'never' }, { timeoutSeconds: 1, retryLimit: 1 }),
    sim('usage rollup', { outcome: 'success', delaySeconds: 1 }, {}),
  ];
  for (const config of runs) await call<Run>('POST', '/api/runs', config);
  const doomed = await call<Run>('POST', '/api/runs', sim('customer backfill', { outcome: 'never' }, { timeoutSeconds: 600 }));
  await call<Run>('POST', `/api/runs/${doomed.id}/cancel`, { reason: 'wrong customer list' });
}

async function shoot(page: Page, name: string): Promise<void> {
  // Nothing should be caught mid-transition or with the caret blinking in a field.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.screenshot({ path: join(OUT, `${name}.png`) });
  console.log(`wrote docs/screenshots/${name}.png`);
  if (EXTRA) {
    await page.screenshot({ path: join(EXTRA, `${name}-full.png`), fullPage: true });
    const { width, height } = page.viewportSize()!;
    if (width < 1024) return;
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.waitForTimeout(100);
    await page.screenshot({ path: join(EXTRA, `${name}-1024-full.png`), fullPage: true });
    await page.setViewportSize({ width, height });
  }
}

/** The list, once it shows this script's runs and its socket is live. */
async function openList(page: Page, rows: number): Promise<void> {
  await page.goto('/');
  await page.getByRole('table', { name: 'Runs', exact: true }).waitFor();
  await page
    .locator('[data-run-id]')
    .nth(rows - 1)
    .waitFor();
  await page.getByRole('status').filter({ hasText: 'Live' }).first().waitFor();
  // The filters as they are now: the derived states are one "Needs attention" select.
  await page.getByLabel('Needs attention').waitFor();
}

/** A phone: 390×844 CSS pixels, touch, the page's own viewport meta honoured. */
async function phone(browser: Browser): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    colorScheme: 'light',
    baseURL: BASE,
  });
  return context.newPage();
}

async function main() {
  await call('GET', '/api/runs?limit=1').catch((e: Error) => {
    throw new Error(`No Tether server at ${BASE} (${e.message}). Build the dashboard, start the server, or set TETHER_URL.`);
  });
  mkdirSync(OUT, { recursive: true });
  if (EXTRA) mkdirSync(EXTRA, { recursive: true });
  await launchBackgroundRuns();

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', baseURL: BASE });

    // Launch form: the seed preset, its forecast computed by the shared forecast().
    await page.goto('/runs/new?preset=seed');
    await page.getByRole('radio', { name: /Seed scenario/ }).check();
    await page.getByLabel('Name', { exact: true }).fill('seed: export, never then success');
    await page.getByRole('table', { name: 'Forecast if launched now' }).waitFor();
    await shoot(page, 'launch');

    // Run detail: launched from that form, watched until attempt 2 succeeds (attempt 1 waits out its 10 s timeout).
    await page.getByRole('button', { name: 'Launch run' }).click();
    await page.waitForURL(/\/runs\/run_/);
    await page.locator('[data-state-id="succeeded"][data-active="true"]').waitFor({ timeout: 60_000 });
    // Read afresh once it has settled: a page opened during the launch's first commits can miss one log entry (a
    // `run.event` that arrives while the page's first read of the log is still in flight is dropped), and the pictures
    // should show the log as the server holds it.
    await page.reload();
    await page.locator('[data-state-id="succeeded"][data-active="true"]').waitFor();
    await page.getByRole('listitem', { name: /^Attempt 2: CallbackSuccess/ }).waitFor();
    await page.locator('tr[data-type="callback.received"]').waitFor();
    await page.getByRole('status').filter({ hasText: 'Live' }).first().waitFor();
    await shoot(page, 'run-detail');

    // Time travel to attempt 1's timeout, from its line in the event log (the slider follows); the machine, next steps
    // and attempts show that instant. The slider's text names the entry in words ("#3 attempt 1 timed out → retrying").
    await page
      .locator('tr[data-type^="xstate.after.attemptTimeout"]')
      .first()
      .getByRole('button', { name: /^View the run as it was after event/ })
      .click();
    await page.getByText(/^Viewing history at/).waitFor();
    const reached = (await page.getByRole('slider', { name: 'Time travel' }).getAttribute('aria-valuetext')) ?? '';
    if (!/attempt 1 timed out/.test(reached)) throw new Error(`time travel is not at attempt 1’s timeout (at “${reached}”)`);
    await page.locator('.machine-view').evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 8));
    await shoot(page, 'time-travel');
    const seedUrl = page.url();

    // The list, with everything launched above: 17 background runs and the seed.
    await openList(page, 18);
    await shoot(page, 'runs-list');

    // Bulk cancel: three runs still running and one already final; the dialog shows the dry run — three would be
    // cancelled, one is skipped and why. Left with Back: nothing is cancelled.
    const table = page.getByRole('table', { name: 'Runs', exact: true });
    for (const name of ['report build', 'payroll preview', 'crm import', 'nightly export'])
      await table.getByRole('checkbox', { name: `Select ${name}`, exact: true }).check();
    await page.getByRole('toolbar', { name: 'Bulk actions' }).getByRole('button', { name: 'Cancel', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Cancel runs' });
    await dialog.getByText(/will be cancelled/).waitFor();
    await dialog.getByRole('list', { name: 'Skipped runs' }).waitFor();
    await shoot(page, 'bulk-cancel');
    await dialog.getByRole('button', { name: 'Back' }).click();
    await dialog.waitFor({ state: 'detached' });

    // On a phone: the list as cards, and the seed run's page.
    const mobile = await phone(browser);
    await openList(mobile, 18);
    await shoot(mobile, 'runs-list-mobile');
    await mobile.goto(seedUrl);
    await mobile.getByRole('region', { name: 'Result' }).waitFor();
    await mobile.getByRole('status').filter({ hasText: 'Live' }).first().waitFor();
    await shoot(mobile, 'run-detail-mobile');
  } finally {
    await browser.close();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
