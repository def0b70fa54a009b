/**
 * The HTTP API, for setting up runs a journey does not launch through the form and for reading back what the page
 * showed (exact instants such as `timeoutDue`). Types come from the shared machine package, never retyped.
 */
import { expect, type APIRequestContext } from '@playwright/test';
import type { Run, RunConfig, SimulateSpec } from '@tether/machine/protocol';

/** `payload.simulate` for the built-in simulator: the protocol's SimulateSpec. */
export type Simulate = SimulateSpec;

export const simulatorUrl = (origin: string): string => `${origin}/simulator/jobs`;

/** A run against this server's simulator. */
export function simulatedRun(
  origin: string,
  simulate: Simulate,
  config: Omit<RunConfig, 'target' | 'payload'> & { payload?: Record<string, unknown> },
): RunConfig {
  const { payload, ...rest } = config;
  return { ...rest, target: { url: simulatorUrl(origin) }, payload: { ...payload, simulate } };
}

export async function createRun(request: APIRequestContext, config: RunConfig): Promise<Run> {
  const res = await request.post('/api/runs', { data: config });
  expect(res.status(), await res.text()).toBe(201);
  return (await res.json()) as Run;
}

export async function getRun(request: APIRequestContext, id: string): Promise<Run> {
  const res = await request.get(`/api/runs/${id}`);
  expect(res.status(), await res.text()).toBe(200);
  return (await res.json()) as Run;
}

/** Polls the API until `ready(run)` holds, then returns the run. */
export async function waitForRun(request: APIRequestContext, id: string, what: string, ready: (run: Run) => boolean, timeout = 15_000): Promise<Run> {
  let last: Run | null = null;
  await expect
    .poll(
      async () => {
        last = await getRun(request, id);
        return ready(last);
      },
      { timeout, message: `run ${id}: ${what}` },
    )
    .toBe(true);
  return last!;
}
