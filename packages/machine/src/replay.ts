/**
 * Replay: a run's snapshot rebuilt from its input and the applied events of its log, through the pure machine. It
 * equals the snapshot the host stored (tested for every run the engine tests make), which is what makes the
 * dashboard's time travel and the inspector's history true. One implementation, used by the server, the dashboard and
 * the inspector. It uses xstate's own `transition` (not the host's faster `decide`), so the two keep checking each other.
 */
import { initialTransition, transition } from 'xstate';
import { runMachine, type RunEvent, type RunInput, type RunSnapshot } from './machine.ts';

/** What replay needs of a log entry: its position, whether it was applied, and the exact machine event. */
export interface ReplayableEntry {
  seq: number;
  verdict: string;
  event?: unknown;
}

/**
 * Carries `snapshot` on through the applied entries of `events` (a live view that already replayed the entries before
 * them): each applied entry with the snapshot right after it.
 */
export function* replayOnto(
  snapshot: RunSnapshot,
  events: readonly ReplayableEntry[],
): Generator<{ entry: ReplayableEntry; snapshot: RunSnapshot }, RunSnapshot> {
  let s = snapshot;
  for (const entry of events) {
    if (entry.verdict !== 'applied' || !entry.event) continue;
    [s] = transition(runMachine, s, entry.event as RunEvent);
    yield { entry, snapshot: s };
  }
  return s;
}

/** Each applied entry with the snapshot right after it, in log order, up to `uptoSeq` (inclusive). */
export function* replaySteps(
  input: RunInput,
  events: readonly ReplayableEntry[],
  uptoSeq = Number.POSITIVE_INFINITY,
): Generator<{ entry: ReplayableEntry; snapshot: RunSnapshot }, RunSnapshot> {
  const [initial] = initialTransition(runMachine, input);
  const upto = events.findIndex((e) => e.seq > uptoSeq);
  return yield* replayOnto(initial, upto < 0 ? events : events.slice(0, upto));
}

/** The snapshot after every applied entry up to `uptoSeq` (inclusive). */
export function replayRun(input: RunInput, events: readonly ReplayableEntry[], uptoSeq = Number.POSITIVE_INFINITY): RunSnapshot {
  const steps = replaySteps(input, events, uptoSeq);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** As persisted by a host (`getPersistedSnapshot`, through JSON): comparable with a stored snapshot. */
export function replayPersisted(input: RunInput, events: readonly ReplayableEntry[], uptoSeq = Number.POSITIVE_INFINITY): unknown {
  return JSON.parse(JSON.stringify(runMachine.getPersistedSnapshot(replayRun(input, events, uptoSeq))));
}
