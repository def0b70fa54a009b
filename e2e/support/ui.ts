/**
 * What a person looks at, named once: the run page's diagram, timeline, callback lane and attempts table, found by
 * the roles, labels and data attributes the dashboard documents for e2e.
 */
import { expect, type Locator, type Page } from '@playwright/test';

const RUN_URL = /\/runs\/(run_[A-Za-z0-9_-]+)$/;

/** The run id of the run page the browser is on (after it got there). */
export async function currentRunId(page: Page): Promise<string> {
  await expect(page).toHaveURL(RUN_URL);
  const m = RUN_URL.exec(new URL(page.url()).pathname);
  if (!m?.[1]) throw new Error(`not on a run page: ${page.url()}`);
  return m[1];
}

export const diagramState = (page: Page, stateId: string): Locator => page.locator(`[data-state-id="${stateId}"]`);

/** Diagram nodes marked as the current step: always exactly one. */
export const currentStepNodes = (page: Page): Locator => page.locator('[data-state-id][aria-current="step"]');

/**
 * The diagram's current leaf is `stateId`: its node is active and marked as the current step — both at the same
 * moment, checked in one poll. (Two checks one after the other can straddle a short state, a 3 s backoff on a loaded
 * machine: active at the first, already left at the second.)
 */
export async function expectCurrentState(page: Page, stateId: string, timeout?: number): Promise<void> {
  const current = page.locator(`[data-state-id="${stateId}"][data-active="true"][aria-current="step"]`);
  await expect(current, `the diagram's current step is ${stateId}`).toHaveCount(1, timeout ? { timeout } : {});
}

/** Attempt `n`'s row on the timeline (its accessible name starts "Attempt n: <state>"). */
export const timelineAttempt = (page: Page, n: number): Locator =>
  page.getByRole('list', { name: 'Attempts', exact: true }).locator(`> li[data-attempt="${n}"]`);

export const callbackLane = (page: Page): Locator => page.getByRole('list', { name: 'Callback lane' });

export const attemptsTable = (page: Page): Locator => page.getByRole('table', { name: 'Attempts', exact: true });

/** Body rows of the attempts table, in attempt order. */
export const attemptRows = (page: Page): Locator => attemptsTable(page).locator('tbody tr');

export const connection = (page: Page): Locator => page.locator('[data-connection]');

export interface LaunchFields {
  name?: string;
  url?: string;
  payload?: string;
  timeoutSeconds?: string;
  retryLimit?: string;
  initialSeconds?: string;
}

const LAUNCH_LABELS: Record<keyof LaunchFields, string> = {
  name: 'Name',
  url: 'Target URL',
  payload: 'Payload (JSON)',
  timeoutSeconds: 'Timeout per attempt (s)',
  retryLimit: 'Retry limit',
  initialSeconds: 'Initial delay (s)',
};

/** Fills launch-form fields by their labels, as a person types them. */
export async function fillLaunchForm(page: Page, fields: LaunchFields): Promise<void> {
  for (const [key, value] of Object.entries(fields) as Array<[keyof LaunchFields, string | undefined]>) {
    if (value !== undefined) await page.getByLabel(LAUNCH_LABELS[key], { exact: true }).fill(value);
  }
}

/** Opens the form on a preset, edits it, launches, and returns the id of the run page it lands on. */
export async function launchFromForm(page: Page, preset: string, fields: LaunchFields): Promise<string> {
  await page.goto(`/runs/new?preset=${preset}`);
  await fillLaunchForm(page, fields);
  await page.getByRole('button', { name: 'Launch run' }).click();
  return currentRunId(page);
}
