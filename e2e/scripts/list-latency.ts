/**
 * The runs list with many stored runs, measured in Debian's Chromium against the real server (not a test: figures for
 * the notes and docs/benchmarks.md). Seeds a data dir (the store's own layout), starts the server on it, then:
 *   - first paint: navigation to `/` until the first row of the page is visible (cold, then warm);
 *   - filter latency: a status filter, a name filter and a sort, each from the change until the new rows are shown.
 *
 *   pnpm --filter @tether/dashboard build && node --import tsx e2e/scripts/list-latency.ts [runs=100000]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { BENCH_SECRET, seedDataDir } from '../../packages/server/bench/lib/seed.ts';
import { TetherProcess, freePort } from '../support/server.ts';

const n = Number(process.argv[2] ?? 100_000);
const t = new TetherProcess(await freePort());
const waiting = Math.round(n * 0.3);
console.log(`seeding ${n} runs (${waiting} waiting)…`);
await seedDataDir({ dir: t.dataDir, waiting, finished: n - waiting, targetUrl: 'http://127.0.0.1:9/jobs', t0: Date.now() - 60_000 });
writeFileSync(join(t.dataDir, 'secret'), BENCH_SECRET, { mode: 0o600 });
console.log('starting the server…');
await t.start();
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const rows = page.getByRole('table', { name: 'Runs', exact: true }).locator('tbody tr');
  const timed = async (what: string, act: () => Promise<unknown>, done: () => Promise<unknown>) => {
    const t0 = performance.now();
    await act();
    await done();
    const ms = Math.round(performance.now() - t0);
    console.log(`${what.padEnd(44)} ${String(ms).padStart(5)} ms`);
    return ms;
  };
  const total = (k: number) => page.getByText(new RegExp(`^1–50 of ${k.toLocaleString('en')}$`)).waitFor();
  await timed(
    'first paint (cold: new browser page)',
    () => page.goto(`${t.url}/`),
    () => rows.first().waitFor(),
  );
  await timed(
    'first paint (warm: reload)',
    () => page.reload(),
    () => rows.first().waitFor(),
  );
  await total(n);
  await timed(
    'filter: status = running',
    () => page.getByLabel('Status').selectOption('running'),
    () => total(waiting),
  );
  await timed(
    'filter: status = succeeded',
    () => page.getByLabel('Status').selectOption('succeeded'),
    () => total(n - waiting),
  );
  await page.getByLabel('Status').selectOption('');
  await total(n);
  // The name box waits 300 ms after the last keystroke (one request per word): that pause is part of the figure.
  await timed(
    'filter: name "bench" (incl. the 300 ms typing pause)',
    () => page.getByLabel('Name').fill('bench'),
    () => page.waitForURL(/name=bench/).then(() => total(n)),
  );
  await timed(
    'sort: by updated',
    () =>
      page
        .getByRole('columnheader', { name: /Updated/ })
        .getByRole('button')
        .click(),
    () => page.waitForURL(/sort=-updatedAt/).then(() => rows.first().waitFor()),
  );
  await timed(
    'next page',
    () => page.getByRole('button', { name: 'Next page' }).click(),
    () => page.getByText(/^51–100 of/).waitFor(),
  );
  const inDom = await rows.count();
  console.log(`rows in the DOM: ${inDom}`);
} finally {
  await browser.close();
  await t.stop();
}
