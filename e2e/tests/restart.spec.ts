/**
 * Journey 5: the server is killed with SIGKILL and started again while a run waits and its page is open. The page
 * reconnects by itself, marks the restart, and the run times out at the deadline it had before the crash.
 */
import { createRun, getRun, simulatedRun } from '../support/api.ts';
import { expect, test } from '../support/fixtures.ts';
import { attemptRows, connection, expectCurrentState, timelineAttempt } from '../support/ui.ts';

test('SIGKILL and restart while a run waits: the page reconnects and the run ends at its original deadline', async ({
  page,
  request,
  tether,
  tetherUrl,
}) => {
  // Long enough that the new process is up well before the deadline (3 s on an idle machine, above 10 s on an
  // overloaded one), so the timer must be re-armed from disk rather than fired late on recovery.
  const TIMEOUT_S = 20;
  const run = await createRun(
    request,
    simulatedRun(tetherUrl, { outcome: 'never' }, { name: 'restart e2e', timeoutSeconds: TIMEOUT_S, retryLimit: 0 }),
  );
  await page.goto(`/runs/${run.id}`);
  await expectCurrentState(page, 'awaitingCallback');
  await expect(connection(page)).toHaveAttribute('data-connection', 'live');
  await expect(page.getByRole('note')).toHaveCount(0);
  const before = (await getRun(request, run.id)).attempts[0]!;
  expect(before.state).toBe('AwaitingCallback');

  await tether.kill9();
  await expect(connection(page)).toHaveAttribute('data-connection', 'reconnecting');
  await expect(connection(page).getByRole('status')).toContainText('Reconnecting');
  // The run is still shown as waiting: the page keeps what it knew.
  await expectCurrentState(page, 'awaitingCallback');

  await tether.restart();
  expect(Date.now(), 'the server took longer to restart than the attempt had left; nothing left to re-arm').toBeLessThan(
    Date.parse(before.timeoutDue),
  );

  // No click: the page finds the new server on its own and says it restarted.
  await expect(connection(page)).toHaveAttribute('data-connection', 'live', { timeout: 20_000 });
  await expect(connection(page).getByRole('status')).toHaveText('Live');
  await expect(page.getByRole('note')).toContainText('Server restarted at');
  const restarts = page.getByRole('list', { name: 'Server restarts' });
  await expect(restarts.getByRole('listitem')).toHaveCount(1);
  // The server's own record: the timer came back from disk with time left, not overdue.
  await expect(restarts).toContainText(/Server restarted; attempt 1 timer re-armed with \d+ ms left\./);

  // The run times out at its original deadline, after the restart, with no one touching it.
  await expectCurrentState(page, 'failed', TIMEOUT_S * 1000 + 5_000);
  await expect(timelineAttempt(page, 1)).toHaveAttribute('data-state', 'TimedOut');
  await expect(attemptRows(page).nth(0)).toContainText('TimedOut');

  const after = (await getRun(request, run.id)).attempts[0]!;
  expect(after.id).toBe(before.id);
  expect(after.state).toBe('TimedOut');
  expect(after.timeoutDue).toBe(before.timeoutDue);
  expect(after.timerLatenessMs).not.toBeNull();
  expect(after.timerLatenessMs!).toBeLessThan(1_000);
  expect(Date.parse(after.endedAt!) - Date.parse(before.timeoutDue)).toBeGreaterThanOrEqual(0);
  expect(Date.parse(after.endedAt!) - Date.parse(before.timeoutDue)).toBeLessThan(1_000);
  await expect(page.getByTestId('lateness-1')).toHaveText(`fired +${after.timerLatenessMs} ms late`);
});
