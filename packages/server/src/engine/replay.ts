/**
 * A stored run's snapshot rebuilt from its document (input + log), as a host persists it: the machine package's one
 * replay (machine/src/replay.ts), comparable with `doc.snapshot`. The dashboard's time travel and the inspector use
 * the same function.
 */
import { replayPersisted } from '@tether/machine';
import type { PersistedRunSnapshot, RunDoc } from '../store/types.ts';

export function replayRun(doc: Pick<RunDoc, 'input' | 'events'>, uptoSeq = Number.POSITIVE_INFINITY): PersistedRunSnapshot {
  return replayPersisted(doc.input, doc.events, uptoSeq) as PersistedRunSnapshot;
}
