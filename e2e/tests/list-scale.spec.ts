/**
 * The list with 10k stored runs: the page holds one page of rows (50), the count comes from the server, and paging and
 * sorting are the server's (`cursor`, `sort` on GET /api/runs), never done over rows loaded into the browser.
 */
import { expect, test } from '../support/fixtures.ts';

// A server of its own, its data dir seeded before it starts: 7,000 finished runs, then 3,000 waiting (newest).
test.use({ tetherSeed: { finished: 7_000, waiting: 3_000 } });

test('10k stored runs: pages and sorts from the server, one page in the DOM', async ({ page }) => {
  const lists: URL[] = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (r.method() === 'GET' && u.pathname === '/api/runs') lists.push(u);
  });
  await page.goto('/');
  const table = page.getByRole('table', { name: 'Runs', exact: true });
  const rows = table.locator('tbody tr');
  await expect(page.getByText('1–50 of 10,000')).toBeVisible();
  await expect(rows).toHaveCount(50);
  // Newest first: the waiting runs were seeded last.
  await expect(rows.first()).toHaveAttribute('data-status', 'running');

  await page.getByRole('button', { name: 'Next page' }).click();
  await expect(page.getByText('51–100 of 10,000')).toBeVisible();
  await expect(rows).toHaveCount(50);
  expect(
    lists.some((u) => u.searchParams.has('cursor')),
    'the next page was asked of the server by cursor',
  ).toBe(true);

  // Sorted by the server: status in its order (running, succeeded, …), then the other way.
  const statusHeader = table.getByRole('columnheader', { name: /Status/ });
  await statusHeader.getByRole('button').click();
  await expect(page).toHaveURL(/[?&]sort=status/);
  await expect(statusHeader).toHaveAttribute('aria-sort', 'ascending');
  await expect(page.getByText('1–50 of 10,000')).toBeVisible();
  await expect(rows.first()).toHaveAttribute('data-status', 'running');
  expect(lists.some((u) => u.searchParams.get('sort') === 'status')).toBe(true);

  await statusHeader.getByRole('button').click();
  await expect(page).toHaveURL(/[?&]sort=-status/);
  await expect(statusHeader).toHaveAttribute('aria-sort', 'descending');
  await expect(rows.first()).toHaveAttribute('data-status', 'succeeded');
  await expect(rows).toHaveCount(50);

  // A filter is the server's too, with its total.
  await page.getByLabel('Status', { exact: true }).selectOption('running');
  await expect(page.getByText('1–50 of 3,000')).toBeVisible();
  for (const tr of await rows.all()) await expect(tr).toHaveAttribute('data-status', 'running');
});
