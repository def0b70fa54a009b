/**
 * Pure layout of the attempts timeline: from a Run, its event log and `now` to rows of spans on one time axis.
 * No DOM here, so every rule (where a backoff gap starts, which callbacks go on the lane, how late a timer fired)
 * is testable with fixtures alone. See README.md next to this file.
 */
import type { AttemptState, EventVerdict, Run, RunEventEntry } from '@tether/machine/protocol';
import { isOpenAttemptState } from '@tether/machine/protocol';

export interface Span {
  from: number;
  to: number;
}

export interface AttemptLane {
  id: string;
  number: number;
  state: AttemptState;
  open: boolean;
  message: string;
  /** Grey gap between the previous attempt's end and this one's start. */
  backoffBefore: Span | null;
  /** From opening the attempt to the trigger's answer (or its failure, or now while in flight). */
  trigger: Span & { failed: boolean };
  /** From the trigger's 2xx to the attempt's end (or now while waiting). */
  waiting: Span | null;
  /** When it times out if no callback arrives: the callback timeout, or an earlier heartbeat deadline. */
  dueAt: number;
  timeoutDue: number;
  heartbeatDue: number | null;
  endedAt: number | null;
  /** How late the timeout timer fired after `dueAt`, when it was a timer that ended the attempt. */
  latenessMs: number | null;
}

/** The next attempt while the run waits out a backoff. */
export interface PendingAttempt {
  number: number;
  backoff: Span;
  startsAt: number;
}

export type CallbackKind = 'callback' | 'heartbeat';

export interface CallbackMark {
  seq: number;
  at: number;
  kind: CallbackKind;
  source: RunEventEntry['source'];
  verdict: EventVerdict;
  httpStatus: number | null;
  attemptNumber: number | null;
  detail: string;
  /** Stacking level, so marks close in time do not cover each other. */
  level: number;
}

export interface RestartMark {
  at: number;
  label: string;
  /** `log`: the server's own `server.recovered` entry; `stream`: this page saw a new bootId. */
  origin: 'log' | 'stream';
}

export interface Timeline {
  start: number;
  end: number;
  now: number;
  running: boolean;
  attempts: AttemptLane[];
  pending: PendingAttempt | null;
  callbacks: CallbackMark[];
  restarts: RestartMark[];
  deadlineAt: number | null;
  ticks: number[];
  tickStepMs: number;
}

const ms = (iso: string): number => Date.parse(iso);
const msOrNull = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) : null);

const TICK_STEPS = [
  100, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000,
  43_200_000, 86_400_000,
];
const MAX_TICKS = 8;
/** Marks closer than this share a level only if they do not overlap (percent of the axis). */
const MARK_SPACING_PCT = 4.5;
const MAX_LEVELS = 3;

function lane(run: Run, index: number, now: number): AttemptLane {
  const a = run.attempts[index]!;
  const prev = index > 0 ? run.attempts[index - 1] : undefined;
  const started = ms(a.started);
  const endedAt = msOrNull(a.endedAt);
  const triggeredAt = msOrNull(a.triggeredAt);
  const open = isOpenAttemptState(a.state);
  const timeoutDue = ms(a.timeoutDue);
  const heartbeatDue = msOrNull(a.heartbeatDue);
  const dueAt = heartbeatDue !== null ? Math.min(timeoutDue, heartbeatDue) : timeoutDue;
  const until = endedAt ?? (open ? now : ms(a.stateSet));
  const triggerEnd = triggeredAt ?? until;
  const prevEnd = prev ? msOrNull(prev.endedAt) : null;
  return {
    id: a.id,
    number: a.number,
    state: a.state,
    open,
    message: a.message,
    backoffBefore: prevEnd !== null && prevEnd < started ? { from: prevEnd, to: started } : null,
    trigger: { from: started, to: Math.max(started, triggerEnd), failed: a.state === 'TriggerFailed' },
    waiting: triggeredAt !== null ? { from: triggeredAt, to: Math.max(triggeredAt, until) } : null,
    dueAt,
    timeoutDue,
    heartbeatDue,
    endedAt,
    latenessMs: a.timerLatenessMs,
  };
}

const CALLBACK_TYPES: Record<string, CallbackKind> = { 'callback.received': 'callback', 'heartbeat.received': 'heartbeat' };

function callbackMarks(run: Run, events: readonly RunEventEntry[], start: number, end: number): CallbackMark[] {
  const numberOf = new Map(run.attempts.map((a) => [a.id, a.number]));
  const marks: CallbackMark[] = [];
  for (const e of events) {
    const kind = CALLBACK_TYPES[e.type];
    // The lane shows what reached the callback webhook, plus operator completions made in its place.
    if (!kind || (e.source !== 'callback' && e.source !== 'operator')) continue;
    marks.push({
      seq: e.seq,
      at: ms(e.at),
      kind,
      source: e.source,
      verdict: e.verdict,
      httpStatus: e.httpStatus ?? null,
      attemptNumber: e.attemptId ? (numberOf.get(e.attemptId) ?? null) : null,
      detail: e.detail ?? '',
      level: 0,
    });
  }
  marks.sort((a, b) => a.at - b.at || a.seq - b.seq);
  const span = Math.max(1, end - start);
  const lastPctAtLevel: number[] = [];
  for (const m of marks) {
    const p = ((m.at - start) / span) * 100;
    let level = lastPctAtLevel.findIndex((last) => p - last >= MARK_SPACING_PCT);
    if (level === -1) level = lastPctAtLevel.length < MAX_LEVELS ? lastPctAtLevel.length : lastPctAtLevel.indexOf(Math.min(...lastPctAtLevel));
    lastPctAtLevel[level] = p;
    m.level = level;
  }
  return marks;
}

function restartMarks(events: readonly RunEventEntry[], seen: readonly RestartMark[]): RestartMark[] {
  const fromLog: RestartMark[] = events
    .filter((e) => e.type === 'server.recovered')
    .map((e) => ({ at: ms(e.at), label: e.detail ?? 'Server restarted.', origin: 'log' as const }));
  // A restart this page noticed is only worth a mark if the log has none near it (the server records its own).
  const extra = seen.filter((s) => !fromLog.some((l) => Math.abs(l.at - s.at) < 10_000));
  return [...fromLog, ...extra].sort((a, b) => a.at - b.at);
}

function ticksFor(start: number, end: number): { ticks: number[]; step: number } {
  const span = end - start;
  const step = TICK_STEPS.find((s) => span / s <= MAX_TICKS) ?? TICK_STEPS[TICK_STEPS.length - 1]!;
  const ticks: number[] = [];
  for (let t = start; t <= end; t += step) ticks.push(t);
  return { ticks, step };
}

export function layoutTimeline(run: Run, events: readonly RunEventEntry[], now: number, seenRestarts: readonly RestartMark[] = []): Timeline {
  const running = run.status === 'running';
  const start = ms(run.createdAt);
  const attempts = run.attempts.map((_, i) => lane(run, i, now));
  const retryDue = msOrNull(run.retryDue);
  const last = attempts[attempts.length - 1];
  const pending: PendingAttempt | null =
    running && run.state === 'retrying' && retryDue !== null && last?.endedAt != null
      ? { number: last.number + 1, backoff: { from: last.endedAt, to: retryDue }, startsAt: retryDue }
      : null;

  // The axis covers everything known, and while running also the deadlines ahead, so it does not rescale every tick.
  const instants: number[] = [start + 1_000];
  for (const a of attempts) {
    instants.push(a.trigger.to, a.endedAt ?? a.dueAt);
    if (a.open) instants.push(a.dueAt);
  }
  if (pending) instants.push(pending.startsAt);
  for (const e of events) instants.push(ms(e.at));
  const finished = msOrNull(run.finishedAt);
  if (finished !== null) instants.push(finished);
  if (running) instants.push(now);
  const rawEnd = Math.max(...instants);
  const end = rawEnd + (rawEnd - start) * 0.04;

  const { ticks, step } = ticksFor(start, end);
  return {
    start,
    end,
    now,
    running,
    attempts,
    pending,
    callbacks: callbackMarks(run, events, start, end),
    restarts: restartMarks(events, seenRestarts).filter((r) => r.at >= start && r.at <= end),
    deadlineAt: msOrNull(run.deadlineAt),
    ticks,
    tickStepMs: step,
  };
}

/** Position of an instant on the axis, in percent. */
export const pct = (t: number, tl: Pick<Timeline, 'start' | 'end'>): number =>
  Math.min(100, Math.max(0, ((t - tl.start) / (tl.end - tl.start)) * 100));

/** Width of a span on the axis, in percent, at least a hair so a 5 ms trigger stays visible. */
export const widthPct = (s: Span, tl: Pick<Timeline, 'start' | 'end'>, min = 0.4): number => Math.max(min, pct(s.to, tl) - pct(s.from, tl));
