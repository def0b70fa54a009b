import { useMemo } from 'react';
import type { Run } from '@tether/machine/protocol';
import { nextSteps, snapshotFromRun, type NextSteps } from '../../../lib/run-snapshot.ts';

/** What the run's current state accepts, asked of the shared machine with the run hydrated into it. */
export function useNextSteps(run: Run, now: number): NextSteps {
  const snapshot = useMemo(() => snapshotFromRun(run), [run]);
  return useMemo(() => nextSteps(snapshot, now), [snapshot, now]);
}
