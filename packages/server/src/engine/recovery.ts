/**
 * What a restart owes each open run: a `server.recovered` entry saying what was re-armed (and how much time was left)
 * and which triggers are re-sent. The entries are committed in the background, a few at a time, after start-up — a
 * restart with 100k waiting runs serves at once instead of queueing 100k writes ahead of everything else — and a run
 * that sees an event first commits its own marker first, so its log still shows the restart before anything after it.
 */
import type { RunDoc } from '../store/types.ts';
import { recoveredOutbox, recoveryDetail, type RecoveryMarker } from '../core/recovery.ts';
import type { RunEventEntry } from '@tether/machine';

export interface RecoveryOptions {
  concurrency: number;
  /** Runs a no-op under the run's lock: committing its pending marker first is the lock's business (Engine.withRun). */
  touch: (runId: string) => Promise<unknown>;
  track: (p: Promise<unknown>) => void;
  stopping: () => boolean;
  log: { error(obj: object, msg?: string): void };
}

export class Recovery {
  private readonly markers = new Map<string, RecoveryMarker>();
  private outboxRuns: string[] = [];
  /** When recovery ran: what was overdue then is decided against this, both in the log and on resume. */
  at = 0;

  constructor(private readonly opts: RecoveryOptions) {}

  begin(at: number): number {
    return (this.at = at);
  }

  /** A run found open at start-up: its committed timers, current attempt, and whether it has a trigger to re-send. */
  add(runId: string, timers: RunDoc['timers'], attempt: number | undefined, resends: boolean): void {
    if (resends) this.outboxRuns.push(runId);
    // The entry's text is built when it is committed: 100k of them are not built before serving.
    this.markers.set(runId, { at: this.at, timers, attempt });
  }

  /** Runs whose recovered triggers resume() re-sends (once). */
  takeOutboxRuns(): string[] {
    const runs = this.outboxRuns;
    this.outboxRuns = [];
    return runs;
  }

  /** The marker still owed to this run, as a log entry plus the outbox entries it counts as re-sent; null if none. */
  markerFor(
    doc: RunDoc,
  ): { entry: { type: string; at: number; verdict: RunEventEntry['verdict']; detail: string; source: 'server' }; resent: string[] } | null {
    const m = this.markers.get(doc.id);
    if (!m) return null;
    const { resend, dropped } = recoveredOutbox(doc, m.at);
    return {
      entry: { type: 'server.recovered', at: m.at, source: 'server', verdict: 'recorded', detail: recoveryDetail(m, resend, dropped) },
      resent: resend.map((o) => o.id),
    };
  }

  recorded(runId: string): void {
    this.markers.delete(runId);
  }

  /** Commits every pending marker in the background, `concurrency` at a time; a failure leaves it for the run's next event. */
  drain(): void {
    const queue = [...this.markers.keys()];
    const worker = async () => {
      while (queue.length && !this.opts.stopping()) {
        const runId = queue.pop()!;
        if (!this.markers.has(runId)) continue;
        await this.opts.touch(runId).catch((e: unknown) => {
          if ((e as Error)?.name !== 'RunDamagedError')
            this.opts.log.error({ runId, err: (e as Error)?.message ?? String(e) }, 'could not record recovery');
        });
      }
    };
    for (let i = 0; i < Math.min(this.opts.concurrency, queue.length); i++) this.opts.track(worker());
  }
}
