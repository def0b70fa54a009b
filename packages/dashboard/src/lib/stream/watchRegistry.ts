/**
 * Who on the page wants what from the stream. Each mounted page (the list, a run) declares an interest; the socket
 * carries one watch for all of them, so the registry merges the interests into one `StreamWatch` and hands it on
 * only when the merged watch changed — once per burst of changes (a render that swaps pages unregisters one interest
 * and registers another in the same task: one message, not two).
 */
import { STREAM_WATCH_MAX_RUNS, type StreamWatch } from '@tether/machine/protocol';

export interface WatchInterest {
  /** Ids whose list line is on screen. */
  runs?: readonly string[];
  /** The one run shown in detail. */
  run?: string | null;
  /** Wants a summary of every run created from now on (a first page showing the newest runs). */
  created?: boolean;
}

/** One watch for every interest: the union of the ids (capped at what the server takes), any run, any `created`. */
export function mergeInterests(interests: Iterable<WatchInterest>): StreamWatch {
  const runs = new Set<string>();
  let run: string | null = null;
  let created = false;
  for (const i of interests) {
    for (const id of i.runs ?? []) runs.add(id);
    run = i.run ?? run;
    created ||= i.created ?? false;
  }
  return { type: 'watch', runs: [...runs].sort().slice(0, STREAM_WATCH_MAX_RUNS), run, created };
}

const keyOf = (w: StreamWatch) => JSON.stringify([w.runs, w.run, w.created]);

export class WatchRegistry {
  private readonly interests = new Map<string, WatchInterest>();
  private lastKey: string | null = null;
  private scheduled = false;

  constructor(private readonly onChange: (watch: StreamWatch) => void) {}

  set(owner: string, interest: WatchInterest): void {
    this.interests.set(owner, interest);
    this.schedule();
  }

  delete(owner: string): void {
    this.interests.delete(owner);
    this.schedule();
  }

  /** After the current task's changes (a microtask: not a timer, which tests fake and pages throttle in the background). */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const watch = mergeInterests(this.interests.values());
      const key = keyOf(watch);
      if (key === this.lastKey) return;
      this.lastKey = key;
      this.onChange(watch);
    });
  }
}
