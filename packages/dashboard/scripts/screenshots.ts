/**
 * Takes the README's screenshots from a running Tether server (which serves the built dashboard at /) with Debian's
 * Chromium at 1280×800:
 *
 *   docs/screenshots/runs-list.png    the list, with runs of mixed outcomes launched by this script
 *   docs/screenshots/launch.png       the launch form with the seed preset and its retry forecast
 *   docs/screenshots/run-detail.png   the seed scenario launched from that form, once it has succeeded
 *   docs/screenshots/time-travel.png  the same run's machine, next steps and attempts as they were when attempt 1 timed out
 *
 *   pnpm --filter @tether/dashboard build && pnpm --filter @tether/server start     # another terminal
 *   TETHER_URL=http://127.0.0.1:3000 pnpm --filter @tether/dashboard screenshots
 *
 * Use a fresh data directory: the list shows whatever the server holds. SCREENSHOTS_EXTRA=<dir> also saves full-page
 * and 1024-px-wide views there, for checking the layout below the fold.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from '@playwright/test';
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

/** Runs that give the list something to show: finished each way, waiting, backing off, cancelled. */
async function launchBackgroundRuns(): Promise<void> {
  const runs: RunConfig[] = [
    sim('nightly export', { outcome: 'success', delaySeconds: 1 }, {}),
    sim('invoice sync', { outcome: 'failure', delaySeconds: 1 }, { retryLimit: 2 }),
    sim('crm import', { outcome: 'triggerError' }, { retryLimit: 5, backoff: { initialSeconds: 600, maxSeconds: 600 } }),
    sim('report build', { outcome: 'never' }, { timeoutSeconds: 900, retryLimit: 3 }),
    sim('ledger close', { perAttempt: ['failure', 'never'], delaySeconds: 1 }, { timeoutSeconds: 600, retryLimit: 3 }),
    sim('webhook relay', { outcome: 'late', delaySeconds: 1 }, { timeoutSeconds: 2, retryLimit: 1 }),
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
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.waitForTimeout(100);
    await page.screenshot({ path: join(EXTRA, `${name}-1024-full.png`), fullPage: true });
    await page.setViewportSize({ width, height });
  }
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
    await page.getByRole('listitem', { name: /^Attempt 2: CallbackSuccess/ }).waitFor();
    await shoot(page, 'run-detail');

    // Time travel: back along the log to attempt 1's timeout; the machine, next steps and attempts show that instant.
    const slider = page.getByRole('slider', { name: 'Time travel' });
    await slider.focus();
    for (let i = 0; i < 20 && !/attemptTimeout/.test((await slider.getAttribute('aria-valuetext')) ?? ''); i++)
      await page.keyboard.press('ArrowLeft');
    await page.getByText(/^Viewing history at/).waitFor();
    await page.locator('.machine-view').evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 8));
    await shoot(page, 'time-travel');

    // The list, with everything launched above.
    await page.goto('/');
    await page.getByRole('table', { name: 'Runs' }).waitFor();
    await page.locator('[data-run-id]').nth(7).waitFor();
    await page.getByRole('status').filter({ hasText: 'Live' }).first().waitFor();
    await shoot(page, 'runs-list');
  } finally {
    await browser.close();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
