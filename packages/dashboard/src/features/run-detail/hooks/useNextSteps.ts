import { useMemo } from 'react';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { liveSnapshot, nextSteps, type LiveSnapshot, type NextSteps } from '../../../lib/run-snapshot.ts';
import type { RunSnapshot } from '@tether/machine';

/** The run as the machine holds it now: its log replayed (or, while the log lags the run, the run hydrated). */
export function useLiveSnapshot(run: Run, events: readonly RunEventEntry[]): LiveSnapshot {
  return useMemo(() => liveSnapshot(run, events), [run, events]);
}

/** What the snapshot accepts now, asked of the shared machine. */
export function useNextSteps(snapshot: RunSnapshot, now: number): NextSteps {
  return useMemo(() => nextSteps(snapshot, now), [snapshot, now]);
}
