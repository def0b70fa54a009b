/**
 * The soak's verdict: what must hold after hundreds of runs and repeated SIGKILLs, computed from what the soak saw
 * (its scripts, every answer it got, the simulator's record of triggers and callbacks, the boots) and what the server
 * kept (each run, its event log, its run file). Pure: the soak test plants violations and checks each one is caught.
 */
import { isDeepStrictEqual } from 'node:util';
import type { AttemptStateName, Run, RunEventEntry } from '@tether/machine';
import { replayRun } from '../../src/engine/replay.ts';
import type { RunDoc } from '../../src/store/types.ts';
import type { Boot } from './soak-server.ts';
import { FAILED_ATTEMPT_STATES, outcomeOf, scriptedFinal, undisturbedState, type DriverAnswer, type SoakScript } from './soak-script.ts';

/** A run the soak knows it created (201), or found by name after its creation answer was lost. */
export interface RunRecord {
  script: SoakScript;
  runId: string;
  /** The definitive answer to the driver's callback for attempt n (retried after lost answers). */
  driverAnswers: Map<number, DriverAnswer>;
  cancel: DriverAnswer | null;
}

/** One definitive answer to a callback, from the driver or as the simulator recorded it. */
export interface ObservedAnswer {
  runId: string;
  attemptId: string;
  by: 'driver' | 'simulator';
  status: number;
  result: string | null;
}

/** A trigger as the simulator received it (GET /simulator/jobs). */
export interface ObservedTrigger {
  runId: string;
  attemptId: string;
  idempotencyKey: string | null;
}

export interface SoakEvidence {
  records: RunRecord[];
  /** What the server answers for each record's run now; null when it does not know the run. */
  served: Map<string, { run: Run; events: RunEventEntry[] } | null>;
  /** Run files read from the data directory after the last (graceful) stop. */
  files: Map<string, RunDoc>;
  answers: ObservedAnswer[];
  triggers: ObservedTrigger[];
  boots: Boot[];
  /** A timer may fire this long after max(its due time, the moment the server was back up). */
  timerToleranceMs: number;
  /**
   * 'check' (the full soak): a timer later than the tolerance is a violation. 'report' (the quick soak in `pnpm test`,
   * which must pass on a loaded machine): lateness is a figure, never a failure; firing early stays a violation.
   * @default 'check'
   */
  timerLateness?: 'check' | 'report';
  /**
   * When the soak process itself could not run (its 25 ms ticker fired late by more than 100 ms): the machine was
   * starved, every process on it with Tether. A timer late by L is excused only if the soak stalled at least
   * L − tolerance within the same span; such timers are counted, not hidden.
   */
  stalls?: Array<{ from: number; to: number }>;
}

export type CheckName =
  | 'lost'
  | 'notFinal'
  | 'script'
  | 'beyondRetryLimit'
  | 'appliedTwice'
  | 'ackMissing'
  | 'answerMissing'
  | 'timerLate'
  | 'replay'
  | 'idempotencyKey'
  | 'crashed';

export const CHECK_LABELS: Record<CheckName, string> = {
  lost: 'runs lost',
  notFinal: 'runs not final at the end',
  script: 'runs whose final state disagrees with their script',
  beyondRetryLimit: 'runs with attempts beyond 1 + retryLimit',
  appliedTwice: 'attempt states applied twice',
  ackMissing: 'acknowledged callbacks (200 accepted) missing from the log',
  answerMissing: 'other callback answers (duplicate, late, conflict) missing from the log',
  timerLate: 'timers fired early (the full soak also: > 1 s after their due time or the restart)',
  replay: 'run files whose log does not replay to their snapshot',
  idempotencyKey: 'triggers with a wrong Idempotency-Key',
  crashed: 'server exits the soak did not cause',
};

export interface Violation {
  check: CheckName;
  runId: string | null;
  detail: string;
}

export interface SoakVerdict {
  violations: Violation[];
  counts: Record<CheckName, number>;
  figures: {
    runs: number;
    undisturbedRuns: number;
    disturbedRuns: number;
    attempts: number;
    timerFires: number;
    maxTimerLatenessMs: number;
    acknowledged: { driver: number; simulator: number };
    otherAnswers: number;
    triggers: number;
    resentTriggers: number;
    replayed: number;
    byStatus: Record<string, number>;
    slowExternal: number;
    lateBeatLaggingTimer: number;
    /** Timers (and attempt timeouts) late beyond tolerance while the soak itself was stalled as long. */
    lateWhileMachineStalled: number;
  };
}

const attemptNumber = (attemptId: string): number => Number(/_(\d+)$/.exec(attemptId)?.[1] ?? NaN);
const ms = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) : null);
const isAttemptTimer = (type: string) => type.startsWith('xstate.after.attemptTimeout');
const isRetryTimer = (type: string) => type.startsWith('xstate.after.retryBackoff');

/** A kill between an attempt's start and its end may have cost it the simulator's callback (the simulator dies too). */
function killedDuring(boots: Boot[], from: number, to: number | null): boolean {
  const SLACK_MS = 200; // the kill is stamped just before the signal; the process dies a moment later
  return boots.some((b) => b.killedAt !== null && b.killedAt >= from - SLACK_MS && (to === null || b.killedAt <= to + SLACK_MS));
}

/** The boot whose process stamped `at` (the last one spawned before it). */
function bootAt(boots: Boot[], at: number): Boot | undefined {
  let found: Boot | undefined;
  for (const b of boots) if (b.spawnedAt <= at) found = b;
  return found;
}

/** Where each attempt was settled in the log: the seq of the applied event that ended it. */
function settledAt(events: RunEventEntry[]): Map<number, number> {
  const out = new Map<number, number>();
  let current = 0;
  let prevState = 'idle';
  for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
    if (e.verdict !== 'applied') continue;
    if (e.type === 'run.start' || ((isRetryTimer(e.type) || e.type === 'run.retryNow') && e.stateAfter === 'triggering')) current++;
    else if (isAttemptTimer(e.type) || ['callback.received', 'trigger.failed', 'attempt.forceTimeout'].includes(e.type)) {
      if (!out.has(current)) out.set(current, e.seq);
    } else if (e.type === 'run.cancel' && (prevState === 'triggering' || prevState === 'awaitingCallback') && !out.has(current))
      out.set(current, e.seq);
    prevState = e.stateAfter ?? prevState;
  }
  return out;
}

export interface ScriptStats {
  /** Attempts that timed out because the external side answered after the timer (its answer is in the log, late). */
  slowExternal: number;
  /** `late` callbacks accepted because the timer, within its tolerance, had not fired yet. */
  lateBeatLaggingTimer: number;
}

/**
 * Each attempt ended as its script says, or as the evidence explains: a kill fell inside it (the simulator's pending
 * callback died with the server), or the external side's answer is in the log *after* the attempt timed out (the host
 * or the simulator was slower than the timeout), or the timeout abandoned the trigger before it was even answered (its
 * entry says so), or a `late` callback beat a timer that was late within tolerance.
 * Then the run's status follows from its attempts, and a run nothing disturbed ends exactly as its script says.
 * Returns whether a kill fell inside the run.
 */
function checkScript(rec: RunRecord, run: Run, events: RunEventEntry[], ev: SoakEvidence, stats: ScriptStats, out: Violation[]): boolean {
  const v = (detail: string) => out.push({ check: 'script', runId: run.id, detail: `${rec.script.name}: ${detail}` });
  const cancelLanded = rec.cancel !== null && (rec.cancel.status === 200 || rec.cancel.lostTries > 0);
  if (rec.cancel?.status === 200 && run.status !== 'cancelled') v(`cancel was answered 200 but the run is ${run.status}`);
  if (run.status === 'cancelled' && !cancelLanded) v('the run is cancelled but no cancel of the soak landed');
  const attempts = run.attempts;
  if (attempts.length === 0) v('no attempt');
  const settled = settledAt(events);
  let asScripted = true;
  attempts.forEach((a, i) => {
    const n = a.number;
    const last = i === attempts.length - 1;
    const killed = killedDuring(ev.boots, Date.parse(a.started), ms(a.endedAt));
    const expected = undisturbedState(rec.script, n, rec.driverAnswers.get(n));
    const allowed = new Set<AttemptStateName>();
    if (expected === 'either') {
      const dc = rec.script.driverCallbacks.find((d) => d.attempt === n)!;
      allowed.add('TimedOut').add(dc.success ? 'CallbackSuccess' : 'CallbackFailure');
    } else allowed.add(expected);
    if (killed) allowed.add('TimedOut');
    if (last && cancelLanded) allowed.add('Cancelled');
    if (allowed.has(a.state)) {
      if (killed || expected === 'either' || a.state === 'Cancelled') asScripted = false;
    } else if (
      a.state === 'TimedOut' &&
      settled.has(n) &&
      // The external side's answer came after the attempt's deadline: logged after the timeout, or refused as late just
      // before the lagging timer's own commit (a callback stamped at or after timeoutDue is late either way).
      events.some(
        (e) =>
          e.attemptId === a.id &&
          (e.source === 'callback' || e.source === 'trigger') &&
          e.verdict !== 'applied' &&
          (e.seq > settled.get(n)! || Date.parse(e.at) >= Date.parse(a.timeoutDue)),
      )
    ) {
      stats.slowExternal++;
      asScripted = false;
    } else if (
      a.state === 'TimedOut' &&
      settled.has(n) &&
      /had no answer yet: abandoned/.test(events.find((e) => e.seq === settled.get(n))?.detail ?? '')
    ) {
      // The attempt timed out before its trigger was even answered (the timeout's own entry says the request was
      // abandoned): the host was slower than the timeout, so the external side's scripted answer never counted.
      stats.slowExternal++;
      asScripted = false;
    } else if (
      outcomeOf(rec.script, n) === 'late' &&
      a.state === 'CallbackSuccess' &&
      a.endedAt !== null &&
      Date.parse(a.endedAt) - Date.parse(a.timeoutDue) <= ev.timerToleranceMs
    ) {
      stats.lateBeatLaggingTimer++;
      asScripted = false;
    } else
      v(`attempt ${n} (${outcomeOf(rec.script, n)}) ended ${a.state}, expected ${[...allowed].join(' or ')}${killed ? ' (a kill fell in it)' : ''}`);
    if (!last && !FAILED_ATTEMPT_STATES.includes(a.state)) v(`attempt ${n} ended ${a.state} and yet attempt ${n + 1} started`);
  });
  const lastAttempt = attempts[attempts.length - 1];
  if (lastAttempt && run.status !== 'running') {
    const dc = rec.script.driverCallbacks.find((d) => d.attempt === lastAttempt.number);
    const notRetryable =
      lastAttempt.state === 'CallbackFailure' && dc !== undefined && !dc.retryable && outcomeOf(rec.script, lastAttempt.number) === 'never';
    if (run.status === 'succeeded' && lastAttempt.state !== 'CallbackSuccess') v(`succeeded, but its last attempt ended ${lastAttempt.state}`);
    if (run.status !== 'succeeded' && lastAttempt.state === 'CallbackSuccess') v(`${run.status}, but its last attempt ended CallbackSuccess`);
    if (run.status === 'failed') {
      if (!FAILED_ATTEMPT_STATES.includes(lastAttempt.state)) v(`failed, but its last attempt ended ${lastAttempt.state}`);
      else if (attempts.length < 1 + rec.script.retryLimit && !notRetryable)
        v(`failed after ${attempts.length} of ${1 + rec.script.retryLimit} attempts`);
    }
  }
  // Every attempt as scripted and no cancel: the script alone decides how the run ends and after how many attempts.
  const killedInRun = killedDuring(ev.boots, Date.parse(run.createdAt), ms(run.finishedAt));
  if (asScripted && !killedInRun && !cancelLanded && run.status !== 'running') {
    const want = scriptedFinal(rec.script, (n) => rec.driverAnswers.get(n));
    if (want && (want.status !== run.status || want.attempts !== attempts.length))
      v(`ended ${run.status} after ${attempts.length} attempts; its script says ${want.status} after ${want.attempts}`);
  }
  return killedInRun;
}

/** Applied events that open, trigger or settle each attempt: each at most once. */
function checkAppliedOnce(run: Run, events: RunEventEntry[], out: Violation[]): void {
  const v = (detail: string) => out.push({ check: 'appliedTwice', runId: run.id, detail });
  const settled = new Map<number, string[]>();
  const triggered = new Map<number, number>();
  let current = 0;
  let opened = 0;
  let prevState = 'idle';
  for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
    if (e.verdict !== 'applied') continue;
    const settle = (n: number) => settled.set(n, [...(settled.get(n) ?? []), `${e.type}#${e.seq}`]);
    const opens = e.type === 'run.start' || ((isRetryTimer(e.type) || e.type === 'run.retryNow') && e.stateAfter === 'triggering');
    if (opens) {
      current++;
      opened++;
    } else if (e.type === 'trigger.succeeded') {
      const n = attemptNumber(e.attemptId ?? '');
      triggered.set(n, (triggered.get(n) ?? 0) + 1);
      if (n !== current) v(`trigger.succeeded #${e.seq} applied to attempt ${n} while attempt ${current} was current`);
    } else if (e.type === 'callback.received' || e.type === 'trigger.failed' || e.type === 'attempt.forceTimeout') {
      const n = attemptNumber(e.attemptId ?? '');
      if (n !== current) v(`${e.type} #${e.seq} applied to attempt ${n} while attempt ${current} was current`);
      settle(n);
    } else if (isAttemptTimer(e.type)) settle(current);
    else if (e.type === 'run.cancel' && (prevState === 'triggering' || prevState === 'awaitingCallback')) settle(current);
    prevState = e.stateAfter ?? prevState;
  }
  for (const [n, list] of settled) if (list.length > 1) v(`attempt ${n} settled ${list.length} times: ${list.join(', ')}`);
  for (const [n, count] of triggered) if (count > 1) v(`attempt ${n} marked triggered ${count} times`);
  if (opened !== run.attempts.length) v(`${opened} attempt openings applied for ${run.attempts.length} attempts`);
}

const TOLERANCE_NOTE = 'after max(due, restart)';

export function judgeSoak(ev: SoakEvidence): SoakVerdict {
  const out: Violation[] = [];
  let undisturbed = 0;
  let disturbed = 0;
  let attempts = 0;
  let timerFires = 0;
  let maxLate = 0;
  const byStatus: Record<string, number> = {};
  const stats: ScriptStats = { slowExternal: 0, lateBeatLaggingTimer: 0 };
  let machineStalls = 0;

  for (const rec of ev.records) {
    const served = ev.served.get(rec.runId);
    if (!served) {
      out.push({ check: 'lost', runId: rec.runId, detail: `${rec.script.name}: the server does not know run ${rec.runId}` });
      continue;
    }
    const { run, events } = served;
    byStatus[run.status] = (byStatus[run.status] ?? 0) + 1;
    attempts += run.attempts.length;
    if (run.status === 'running')
      out.push({ check: 'notFinal', runId: run.id, detail: `${rec.script.name}: still ${run.state} (${run.overallState})` });
    if (run.attempts.length > 1 + rec.script.retryLimit)
      out.push({ check: 'beyondRetryLimit', runId: run.id, detail: `${run.attempts.length} attempts with retryLimit ${rec.script.retryLimit}` });
    if (checkScript(rec, run, events, ev, stats, out)) disturbed++;
    else undisturbed++;
    checkAppliedOnce(run, events, out);

    // Timers: each fired within tolerance of max(its due time, the moment its boot was listening).
    const lateness = (due: number, fired: number) => {
      const boot = bootAt(ev.boots, fired);
      const from = Math.max(due, boot?.upAt ?? boot?.spawnedAt ?? due);
      return fired - from;
    };
    /** Late beyond tolerance, and not explained by the whole machine stalling over the same span. */
    const tooLate = (fired: number, late: number, count = true): boolean => {
      if (late <= ev.timerToleranceMs || ev.timerLateness === 'report') return false;
      const from = fired - late;
      const stalled = Math.max(0, ...(ev.stalls ?? []).filter((st) => st.to >= from && st.from <= fired).map((st) => st.to - st.from));
      if (stalled >= late - ev.timerToleranceMs) {
        if (count) machineStalls++;
        return false;
      }
      return true;
    };
    for (const e of events) {
      if (e.source !== 'timer') continue;
      const due = /Timer due (\S+) fired/.exec(e.detail ?? '')?.[1];
      if (!due) {
        out.push({ check: 'timerLate', runId: run.id, detail: `timer event #${e.seq} does not say when it was due` });
        continue;
      }
      timerFires++;
      if (Date.parse(e.at) < Date.parse(due))
        out.push({ check: 'timerLate', runId: run.id, detail: `${e.type} #${e.seq} fired before its due time ${due}` });
      const late = lateness(Date.parse(due), Date.parse(e.at));
      maxLate = Math.max(maxLate, late);
      if (tooLate(Date.parse(e.at), late))
        out.push({ check: 'timerLate', runId: run.id, detail: `${e.type} #${e.seq} fired ${late} ms ${TOLERANCE_NOTE}` });
    }
    for (const a of run.attempts) {
      if (a.timerLatenessMs === null) continue;
      const due = Math.min(Date.parse(a.timeoutDue), ms(a.heartbeatDue) ?? Number.POSITIVE_INFINITY);
      const late = lateness(due, due + a.timerLatenessMs);
      maxLate = Math.max(maxLate, late);
      if (tooLate(due + a.timerLatenessMs, late, false))
        // the same firing as its timer event: counted once
        out.push({
          check: 'timerLate',
          runId: run.id,
          detail: `attempt ${a.number} timed out ${late} ms ${TOLERANCE_NOTE} (timerLatenessMs ${a.timerLatenessMs})`,
        });
    }

    // Every answer the soak or the simulator got is in the log, with the same verdict and status.
    const logged = (attemptId: string, verdict: string, status: number) =>
      events.filter((e) => e.type === 'callback.received' && e.attemptId === attemptId && e.verdict === verdict && e.httpStatus === status).length;
    const seen = new Map<string, number>();
    for (const a of ev.answers) {
      if (a.runId !== run.id) continue;
      const verdict = a.result === 'accepted' ? 'applied' : (a.result ?? '?');
      const key = `${a.attemptId}|${verdict}|${a.status}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      const need = seen.get(key)!;
      if (logged(a.attemptId, verdict, a.status) < need) {
        const check: CheckName = a.result === 'accepted' ? 'ackMissing' : 'answerMissing';
        out.push({
          check,
          runId: run.id,
          detail: `${a.by} callback answered ${a.status} ${a.result} for ${a.attemptId}, but the log has ${logged(a.attemptId, verdict, a.status)} such entries`,
        });
      }
      if (a.result === 'accepted' && need > 1)
        out.push({ check: 'appliedTwice', runId: run.id, detail: `${need} callbacks answered 200 accepted for ${a.attemptId}` });
    }
  }

  for (const [id, doc] of ev.files) {
    const seqsOk = doc.events.every((e, i) => e.seq === i);
    const replayed = replayRun(doc);
    if (!seqsOk || !isDeepStrictEqual(replayed, JSON.parse(JSON.stringify(doc.snapshot))))
      out.push({
        check: 'replay',
        runId: id,
        detail: seqsOk ? 'replaying its applied events does not give its stored snapshot' : 'its log seq numbers are not 0..n-1',
      });
  }
  for (const rec of ev.records)
    if (ev.served.get(rec.runId) && !ev.files.has(rec.runId)) out.push({ check: 'lost', runId: rec.runId, detail: 'served, but no run file' });

  for (const t of ev.triggers)
    if (t.idempotencyKey !== t.attemptId)
      out.push({ check: 'idempotencyKey', runId: t.runId, detail: `trigger for ${t.attemptId} carried Idempotency-Key ${t.idempotencyKey}` });
  // Re-sends as the server recorded them on recovery (the simulator's own record dies with each killed boot).
  let resent = 0;
  for (const served of ev.served.values())
    for (const e of served?.events ?? [])
      if (e.type === 'server.recovered') resent += (e.detail ?? '').match(/trigger for attempt \d+ re-sent/g)?.length ?? 0;

  for (const b of ev.boots)
    if (b.exit && !b.expected)
      out.push({
        check: 'crashed',
        runId: null,
        detail: `boot ${b.n} (pid ${b.pid}) exited by itself: code ${b.exit.code}, signal ${b.exit.signal}`,
      });

  const counts = Object.fromEntries(Object.keys(CHECK_LABELS).map((k) => [k, 0])) as Record<CheckName, number>;
  // Runs for the per-run checks (one bad run counts once), occurrences for the rest.
  const perRun: CheckName[] = ['script', 'appliedTwice'];
  for (const k of Object.keys(counts) as CheckName[]) {
    const list = out.filter((x) => x.check === k);
    counts[k] = perRun.includes(k) ? new Set(list.map((x) => x.runId)).size : list.length;
  }
  const acknowledged = ev.answers.filter((a) => a.result === 'accepted');
  return {
    violations: out,
    counts,
    figures: {
      runs: ev.records.length,
      undisturbedRuns: undisturbed,
      disturbedRuns: disturbed,
      attempts,
      timerFires,
      maxTimerLatenessMs: maxLate,
      acknowledged: {
        driver: acknowledged.filter((a) => a.by === 'driver').length,
        simulator: acknowledged.filter((a) => a.by === 'simulator').length,
      },
      otherAnswers: ev.answers.length - acknowledged.length,
      triggers: ev.triggers.length,
      resentTriggers: resent,
      replayed: ev.files.size,
      byStatus,
      ...stats,
      lateWhileMachineStalled: machineStalls,
    },
  };
}
