/**
 * A run's persisted history, replayed into the Stately inspector from the browser. The log is replayed through the
 * shared machine (the same `transition` the server applied), so the inspector shows the whole run — every applied
 * event and the snapshot it produced — not only what happens after it was opened; entries that arrive later are
 * sent as they come.
 *
 * Nothing here needs a secret: the page only holds what the API returns (target header values already redacted by
 * the server, no signing secret, and callback signatures live on the wire `Run`, never in the machine's context).
 */
import type { createInspector } from '@statelyai/inspect';
import { initialTransition, type ActorRefLike, type AnyEventObject } from 'xstate';
import { replayOnto, runMachine, type RunSnapshot } from '@tether/machine';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { inputOfRun } from './run-snapshot.ts';

/** What we use of an inspector; any adapter (the browser window, a test's collector) will do. */
export type RunInspector = Pick<ReturnType<typeof createInspector>, 'actor' | 'event' | 'snapshot' | 'stop'>;

export const STATELY_INSPECTOR_URL = 'https://stately.ai/inspect';

/** The inspector reads `sessionId` and, to draw the machine, `logic.config`; nothing runs in the browser. */
function actorOf(runId: string): ActorRefLike & { logic: typeof runMachine } {
  return { sessionId: runId, logic: runMachine, send: () => {}, getSnapshot: () => undefined };
}

/** The part of a snapshot the inspector shows, as plain JSON. */
function inspected(s: RunSnapshot) {
  return { status: s.status, value: s.value, context: JSON.parse(JSON.stringify(s.context)) as unknown };
}

/**
 * Replays a run's log into an inspector and keeps going: `push` sends entries appended since. One session per run,
 * `sessionId` = run id (as the server's live inspection uses), opened with the machine's initial snapshot.
 */
export class RunHistoryInspector {
  private snapshot: RunSnapshot;
  private lastSeq = -1;

  constructor(
    private readonly inspector: RunInspector,
    private readonly run: Pick<Run, 'id' | 'config' | 'createdAt' | 'idempotencyKey'>,
  ) {
    [this.snapshot] = initialTransition(runMachine, inputOfRun(run));
    inspector.actor(actorOf(run.id), inspected(this.snapshot));
  }

  /** Sends every applied entry after the last one sent, in log order (the machine package's replay). Returns how many were sent. */
  push(events: readonly RunEventEntry[]): number {
    const fresh = events.filter((e) => e.seq > this.lastSeq);
    if (fresh.length) this.lastSeq = fresh[fresh.length - 1]!.seq;
    let sent = 0;
    for (const { entry, snapshot } of replayOnto(this.snapshot, fresh)) {
      const event = entry.event as AnyEventObject;
      this.snapshot = snapshot;
      this.inspector.event(this.run.id, event);
      this.inspector.snapshot(this.run.id, inspected(this.snapshot), { event });
      sent++;
    }
    return sent;
  }

  stop(): void {
    this.inspector.stop();
  }
}

type InspectModule = typeof import('@statelyai/inspect');
let inspectModule: InspectModule | null = null;

/**
 * Loads @statelyai/inspect into its own chunk, off the first page load. The run page calls it on mount: the window
 * has to be opened synchronously inside the click (popup blockers), so the module must already be there by then.
 */
export async function loadInspector(): Promise<void> {
  inspectModule ??= await import('@statelyai/inspect');
}

export const inspectorLoaded = (): boolean => inspectModule !== null;

/**
 * Opens the Stately inspector in a new window (call it from a click: popup blockers allow that) and replays the run
 * into it. The browser inspector holds events until the window says it is connected, so the history is kept for it.
 */
export function openRunInInspector(
  run: Pick<Run, 'id' | 'config' | 'createdAt' | 'idempotencyKey'>,
  events: readonly RunEventEntry[],
): RunHistoryInspector {
  if (!inspectModule) throw new Error('The inspector is still loading (loadInspector() first).');
  const inspector = inspectModule.createBrowserInspector({
    url: STATELY_INSPECTOR_URL,
    // One actor message plus an event and a snapshot per applied entry, with room for the entries still to come.
    maxDeferredEvents: Math.max(200, 2 * events.length + 100),
  });
  const history = new RunHistoryInspector(inspector, run);
  history.push(events);
  return history;
}
