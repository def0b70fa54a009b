/**
 * Rebuilds a run's snapshot from its input and event log: the applied events, in order, through the pure machine.
 * Equal to the stored snapshot for every run; the dashboard's time travel does the same in the browser.
 */
import { initialTransition, transition } from 'xstate';
import { runMachine, type RunEvent } from '@tether/machine';
import type { PersistedRunSnapshot, RunDoc } from '../store/types.ts';

export function replayRun(doc: Pick<RunDoc, 'input' | 'events'>, uptoSeq = Number.POSITIVE_INFINITY): PersistedRunSnapshot {
  let [snap] = initialTransition(runMachine, doc.input);
  for (const e of doc.events) {
    if (e.seq > uptoSeq) break;
    if (e.verdict !== 'applied' || !e.event) continue;
    [snap] = transition(runMachine, snap, e.event as RunEvent);
  }
  return JSON.parse(JSON.stringify(runMachine.getPersistedSnapshot(snap))) as PersistedRunSnapshot;
}
