/**
 * Simulator presets: each sets `payload.simulate` for the built-in simulator (`/simulator/jobs`) and timings short
 * enough to watch. `perAttempt` gives one outcome per attempt; the seed's example is `['never', 'success']`.
 */
import type { SimulateSpec } from '@tether/machine/protocol';

export interface Preset {
  id: string;
  label: string;
  description: string;
  /** `payload.simulate`: what the built-in simulator does for each attempt. */
  simulate: SimulateSpec;
  timing: { timeoutSeconds: number; retryLimit: number; initialSeconds: number };
}

export const PRESETS: readonly Preset[] = [
  {
    id: 'seed',
    label: 'Seed scenario',
    description: 'Attempt 1 never calls back and times out; attempt 2 succeeds.',
    simulate: { perAttempt: ['never', 'success'], delaySeconds: 2 },
    timing: { timeoutSeconds: 10, retryLimit: 4, initialSeconds: 2 },
  },
  {
    id: 'success',
    label: 'Success',
    description: 'Calls back with success after 3 s.',
    simulate: { outcome: 'success', delaySeconds: 3 },
    timing: { timeoutSeconds: 10, retryLimit: 2, initialSeconds: 2 },
  },
  {
    id: 'failure',
    label: 'Failure callback',
    description: 'Every attempt calls back with failure; the run retries, then fails exhausted.',
    simulate: { outcome: 'failure', delaySeconds: 1 },
    timing: { timeoutSeconds: 10, retryLimit: 2, initialSeconds: 2 },
  },
  {
    id: 'triggerError',
    label: 'Trigger error',
    description: 'The external system answers the trigger with an error (5xx); each attempt fails at once.',
    simulate: { outcome: 'triggerError' },
    timing: { timeoutSeconds: 10, retryLimit: 2, initialSeconds: 2 },
  },
  {
    id: 'never',
    label: 'All time out',
    description: 'Never calls back: every attempt times out and the run fails exhausted.',
    simulate: { outcome: 'never' },
    timing: { timeoutSeconds: 5, retryLimit: 2, initialSeconds: 1 },
  },
  {
    id: 'late',
    label: 'Late callback',
    description: 'Calls back after the attempt timed out: answered 410 and recorded on the callback lane.',
    simulate: { outcome: 'late' },
    timing: { timeoutSeconds: 5, retryLimit: 1, initialSeconds: 2 },
  },
  {
    id: 'duplicate',
    label: 'Duplicate callback',
    description: 'Sends the same success callback twice: the second is answered 200 duplicate.',
    simulate: { outcome: 'duplicate', delaySeconds: 2 },
    timing: { timeoutSeconds: 10, retryLimit: 1, initialSeconds: 2 },
  },
  {
    id: 'early',
    label: 'Early callback',
    description: 'Calls back before answering the trigger request: accepted while the trigger is in flight.',
    simulate: { outcome: 'early' },
    timing: { timeoutSeconds: 10, retryLimit: 1, initialSeconds: 2 },
  },
];

export const presetById = (id: string | null): Preset | undefined => PRESETS.find((p) => p.id === id);
