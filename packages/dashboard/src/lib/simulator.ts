/**
 * The built-in simulator as the dashboard sees it: where it lives and what it reads. The server mounts it at
 * `/simulator/jobs`; a run aimed there is played by it as the run's `payload.simulate` (the protocol's SimulateSpec)
 * says.
 */
import { schemaErrors, type FieldError } from '@tether/machine';
import { SimulateSpec } from '@tether/machine/protocol';

export const SIMULATOR_PATH = '/simulator/jobs';

export const simulatorUrl = (origin: string): string => `${origin}${SIMULATOR_PATH}`;

/**
 * Whether a target URL is a built-in simulator. By path alone: the dashboard may be served from another origin than
 * the one a run was created with (the dev server's proxy, 127.0.0.1 or localhost), and nothing here grants access.
 */
export function isSimulatorTarget(url: string): boolean {
  try {
    return new URL(url).pathname.replace(/\/+$/, '') === SIMULATOR_PATH;
  } catch {
    return false;
  }
}

/**
 * What is wrong with the `payload.simulate` of a run aimed at the simulator, field by field (`payload.simulate.outcome
 * must be one of "success", …`). The server takes any payload, so without this a typo such as `"sucess"` is only
 * found when the simulator refuses the first trigger. A run aimed elsewhere may carry any `simulate` it likes.
 */
export function simulateErrors(targetUrl: string, payload: unknown): FieldError[] {
  if (!isSimulatorTarget(targetUrl) || payload === null || typeof payload !== 'object' || !('simulate' in payload)) return [];
  return schemaErrors(SimulateSpec, (payload as { simulate: unknown }).simulate).map((e) => ({
    field: e.field === '(body)' ? 'payload.simulate' : `payload.simulate.${e.field}`,
    message: e.message,
  }));
}
