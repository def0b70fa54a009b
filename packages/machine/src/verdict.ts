/**
 * What a callback or a heartbeat gets: applied, or answered duplicate / conflict / late / not found — each with its
 * HTTP status and the sentence recorded on the run. Pure: decided from the committed snapshot and the event (which
 * carries its own time), so every host answers the same way and a test needs no server.
 */
import {
  attemptDueAt,
  type AttemptRecord,
  type CallbackPayload,
  type CallbackReceivedEvent,
  type HeartbeatReceivedEvent,
  type RunSnapshot,
} from './machine.ts';
import { isFinalRunStatus, isOpenAttemptState } from './status.ts';
import { leafState, toRunSummary } from './view.ts';

/** The answer to one callback or heartbeat. `logVerdict` is what the run's log records; `result` what the sender reads. */
export type Verdict =
  | { result: 'accepted'; logVerdict: 'applied'; httpStatus: 200; message: string; detail: string; attempt: AttemptRecord }
  | { result: 'duplicate'; logVerdict: 'duplicate'; httpStatus: 200; message: string; detail: string; attempt: AttemptRecord }
  | { result: 'conflict'; logVerdict: 'conflict'; httpStatus: 409; message: string; detail: string; attempt: AttemptRecord }
  | { result: 'late'; logVerdict: 'late'; httpStatus: 410; message: string; detail: string; attempt: AttemptRecord }
  | { result: 'not_found'; logVerdict: 'not_found'; httpStatus: 404; message: string; detail: string; attempt: null };

const iso = (ms: number) => new Date(ms).toISOString();

/** JSON with object keys sorted: `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same JSON, whatever a client's map order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_key, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

/** Two callbacks say the same thing (a retry of the one accepted), whatever their key order. */
export function sameCallback(a: CallbackPayload, b: CallbackPayload): boolean {
  return (
    a.success === b.success &&
    (a.message ?? null) === (b.message ?? null) &&
    (a.retryable ?? null) === (b.retryable ?? null) &&
    canonicalJson(a.output ?? null) === canonicalJson(b.output ?? null)
  );
}

/** Why an attempt no longer takes callbacks, in words. */
export function lateReason(snapshot: RunSnapshot, attemptId: string): string {
  const ctx = snapshot.context;
  const a = ctx.attempts.find((x) => x.id === attemptId)!;
  const current = ctx.attempts[ctx.attempts.length - 1]!;
  const when = a.endedAt !== null ? ` at ${iso(a.endedAt)}` : '';
  if (a.id !== current.id) return `Attempt ${a.number} was superseded by attempt ${current.number}; it ended ${a.state}${when}.`;
  if (isFinalRunStatus(toRunSummary(snapshot).status) && isOpenAttemptState(a.state)) return `The run is ${leafState(snapshot.value)}.`;
  // Still open but refused: the callback came at or after the deadline, a moment before the timer's own commit.
  if (isOpenAttemptState(a.state)) return `Attempt ${a.number} reached its deadline ${iso(attemptDueAt(ctx))} before this arrived; it is timing out.`;
  return `Attempt ${a.number} is no longer waiting: it ended ${a.state}${when}.`;
}

const notFound = (snapshot: RunSnapshot, attemptId: string): Verdict => {
  const message = `Run ${snapshot.context.runId} has no attempt ${attemptId}.`;
  return { result: 'not_found', logVerdict: 'not_found', httpStatus: 404, message, detail: message, attempt: null };
};

/** The verdict on a callback, from the run's committed snapshot. */
export function callbackVerdict(snapshot: RunSnapshot, event: CallbackReceivedEvent): Verdict {
  const attempt = snapshot.context.attempts.find((a) => a.id === event.attemptId);
  if (!attempt) return notFound(snapshot, event.attemptId);
  if (snapshot.can(event)) {
    return {
      result: 'accepted',
      logVerdict: 'applied',
      httpStatus: 200,
      message: 'Callback accepted.',
      detail: event.success ? 'Success accepted.' : 'Failure accepted.',
      attempt,
    };
  }
  if (attempt.callback) {
    if (sameCallback(attempt.callback, event)) {
      const message = `Attempt ${attempt.number} was already settled with this callback.`;
      return { result: 'duplicate', logVerdict: 'duplicate', httpStatus: 200, message, detail: message, attempt };
    }
    const message = `Attempt ${attempt.number} was already settled with a different callback (${attempt.state}).`;
    return { result: 'conflict', logVerdict: 'conflict', httpStatus: 409, message, detail: message, attempt };
  }
  const message = lateReason(snapshot, attempt.id);
  return { result: 'late', logVerdict: 'late', httpStatus: 410, message, detail: message, attempt };
}

/** The verdict on a heartbeat: applied (it extends the attempt's heartbeat deadline), late, or not found. */
export function heartbeatVerdict(snapshot: RunSnapshot, event: HeartbeatReceivedEvent): Verdict {
  const attempt = snapshot.context.attempts.find((a) => a.id === event.attemptId);
  if (!attempt) return notFound(snapshot, event.attemptId);
  if (snapshot.can(event))
    return { result: 'accepted', logVerdict: 'applied', httpStatus: 200, message: 'Heartbeat accepted.', detail: 'Heartbeat accepted.', attempt };
  const message = lateReason(snapshot, attempt.id);
  return { result: 'late', logVerdict: 'late', httpStatus: 410, message, detail: message, attempt };
}
