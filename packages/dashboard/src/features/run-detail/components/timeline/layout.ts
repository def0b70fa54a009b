/**
 * Pure layout of the attempts timeline: from a Run, its event log, `now` and the track's width in pixels to rows of
 * spans on one time axis. No DOM here, so every rule (where a backoff gap starts, which callbacks go on the lane, how
 * late a timer fired, which labels have room) is testable with fixtures alone. See README.md next to this file.
 *
 * Labels never overlap: their widths are estimated from their text (a conservative width per character, see
 * `textWidthPx`), and a label without room is thinned out (ticks), stacked (callback marks), moved to the other side
 * (lateness) or left to its tooltip (backoff lengths).
 */
import type { AttemptState, EventVerdict, Run, RunEventEntry } from '@tether/machine/protocol';
import { isOpenAttemptState } from '@tether/machine/protocol';
import { formatDuration, formatOffset } from '../../../../lib/time.ts';

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
  /** `backoff 6.0 s`, drawn inside the backoff bar only when it fits (`backoffLabelFits`); always its tooltip. */
  backoffLabel: string | null;
  backoffLabelFits: boolean;
  /** `fired +35 ms late`: which side of the outcome marker it has room on, or null when neither (tooltip only). */
  lateLabel: string | null;
  lateSide: 'after' | 'before' | null;
}

/** The next attempt while the run waits out a backoff. */
export interface PendingAttempt {
  number: number;
  backoff: Span;
  startsAt: number;
  backoffLabel: string;
  backoffLabelFits: boolean;
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
  /** What the mark shows: the HTTP status, `op` for an operator's completion, `•` otherwise. */
  text: string;
  /** Stacking level, so marks close in time do not cover each other. */
  level: number;
  /** Drawn as a narrow dot without its text: the lane was too crowded for the text (it stays in the mark's name). */
  compact: boolean;
}

export interface RestartMark {
  at: number;
  label: string;
  /** `log`: the server's own `server.recovered` entry; `stream`: this page saw a new bootId. */
  origin: 'log' | 'stream';
  /** Whether its ⟳ flag has room beside the previous one (the line is always drawn). */
  flag?: boolean;
}

export interface Tick {
  at: number;
  /** `+1 m 20 s`: time since the run was created. */
  label: string;
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
  ticks: Tick[];
  tickStepMs: number;
  /** How many stacked rows the callback lane needs. */
  laneLevels: number;
  /** The track width the labels were fitted to, px. */
  trackPx: number;
}

const ms = (iso: string): number => Date.parse(iso);
const msOrNull = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) : null);

const TICK_STEPS = [
  100, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000,
  43_200_000, 86_400_000,
];
const MAX_TICKS = 8;
/** Callback marks stack up to this many rows with their text; a lane more crowded than that draws dots instead. */
const MAX_LEVELS = 3;

/** The track width assumed until the page has measured it (and in tests that do not say): a laptop's run page. */
export const DEFAULT_TRACK_PX = 720;
/** The root font size the CSS sizes labels in (`html { font-size: 14px }`). */
const REM_PX = 14;
/**
 * Average glyph width as a fraction of the font size, on the generous side: tabular digits are about 0.55 em in the
 * UI fonts, capitals and `m` wider. Over-estimating only thins labels a little early; under-estimating overlaps them.
 */
const CHAR_EM = 0.66;
/** Space kept between two labels, px. */
const LABEL_GAP_PX = 6;

/** Font sizes of the labels, rem, as in styles (`.tl-tick`, `.tl-mark`, `.tl-seg-text`, `.tl-late`). */
export const LABEL_FONT = { tick: 0.72, mark: 0.72, segment: 0.7, late: 0.68 } as const;
/** A mark's horizontal padding and border, px (`padding: 0 0.35rem`, a border up to 3 px for an operator's). */
const MARK_CHROME_PX = 2 * 0.35 * REM_PX + 6;
/** Width of a mark drawn as a dot (`.tl-mark-compact`), px. */
export const COMPACT_MARK_PX = 10;
/** The lateness label sits this far from the outcome marker's centre (`.tl-late { margin-left: 12px }`). */
export const LATE_OFFSET_PX = 12;
/** The backoff text's inset in its bar (`.tl-seg-text { left: 4px }`), on both sides. */
const SEGMENT_INSET_PX = 8;
/** Room a restart's ⟳ flag needs, px. */
const FLAG_PX = 14;

/** A conservative width of `text` at `fontRem`, px. */
export const textWidthPx = (text: string, fontRem: number): number => Math.ceil(text.length * CHAR_EM * fontRem * REM_PX);

/** How wide a callback mark is drawn, px: its text and chrome, or a dot. */
export const markWidthPx = (m: Pick<CallbackMark, 'text' | 'compact'>): number =>
  m.compact ? COMPACT_MARK_PX : textWidthPx(m.text, LABEL_FONT.mark) + MARK_CHROME_PX;

function lane(run: Run, index: number, now: number): Omit<AttemptLane, 'backoffLabelFits' | 'lateSide'> {
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
    backoffLabel: prevEnd !== null && prevEnd < started ? `backoff ${formatDuration(started - prevEnd)}` : null,
    lateLabel:
      a.timerLatenessMs !== null && endedAt !== null && (a.state === 'TimedOut' || a.state === 'HeartbeatTimedOut')
        ? `fired +${a.timerLatenessMs} ms late`
        : null,
  };
}

const CALLBACK_TYPES: Record<string, CallbackKind> = { 'callback.received': 'callback', 'heartbeat.received': 'heartbeat' };

function callbackMarks(run: Run, events: readonly RunEventEntry[]): CallbackMark[] {
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
      text: e.httpStatus !== undefined ? String(e.httpStatus) : e.source === 'operator' ? 'op' : '•',
      level: 0,
      compact: false,
    });
  }
  return marks.sort((a, b) => a.at - b.at || a.seq - b.seq);
}

/**
 * Stacks marks (centred on their instant) so that none covers another: each takes the lowest level whose last mark
 * ends, with a gap, before it begins. With their text they get MAX_LEVELS; a lane more crowded than that is drawn as
 * dots, as many levels as it takes. Returns the levels used.
 */
function stackMarks(marks: CallbackMark[], x: (t: number) => number): number {
  const place = (width: (m: CallbackMark) => number, maxLevels: number): number | null => {
    const rightEdge: number[] = [];
    const levels: number[] = [];
    for (const m of marks) {
      const w = width(m);
      const left = x(m.at) - w / 2;
      let level = rightEdge.findIndex((r) => r + LABEL_GAP_PX / 2 <= left);
      if (level === -1) {
        if (rightEdge.length >= maxLevels) return null;
        level = rightEdge.length;
      }
      rightEdge[level] = left + w;
      levels.push(level);
    }
    levels.forEach((l, i) => (marks[i]!.level = l));
    return Math.max(1, rightEdge.length);
  };
  const full = place(markWidthPx, MAX_LEVELS);
  if (full !== null) return full;
  for (const m of marks) m.compact = true;
  return place(markWidthPx, Number.POSITIVE_INFINITY)!;
}

function restartMarks(events: readonly RunEventEntry[], seen: readonly RestartMark[]): RestartMark[] {
  const fromLog: RestartMark[] = events
    .filter((e) => e.type === 'server.recovered')
    .map((e) => ({ at: ms(e.at), label: e.detail ?? 'Server restarted.', origin: 'log' as const }));
  // A restart this page noticed is only worth a mark if the log has none near it (the server records its own).
  const extra = seen.filter((s) => !fromLog.some((l) => Math.abs(l.at - s.at) < 10_000));
  return [...fromLog, ...extra].sort((a, b) => a.at - b.at);
}

/** Each tick label's extent, px: the first starts at its tick (`.tl-tick:first-child`), the others are centred. */
export function tickExtents(ticks: readonly Tick[], x: (t: number) => number): Array<[number, number]> {
  return ticks.map((t, i) => {
    const w = textWidthPx(t.label, LABEL_FONT.tick);
    const at = x(t.at);
    return i === 0 ? [at, at + w] : [at - w / 2, at + w / 2];
  });
}

/**
 * The finest round step whose labels all have room: at most MAX_TICKS, none closer to the next than LABEL_GAP_PX, none
 * past the track's right end (a label centred on the last tick would stick out of it). On a track too narrow for any
 * step, only the origin (`+0 ms`) is labelled.
 */
function ticksFor(start: number, end: number, x: (t: number) => number, trackPx: number): { ticks: Tick[]; step: number } {
  const span = end - start;
  for (const step of TICK_STEPS) {
    if (span / step > MAX_TICKS) continue;
    const all: Tick[] = [];
    for (let t = start; t <= end; t += step) all.push({ at: t, label: formatOffset(t - start) });
    const allExt = tickExtents(all, x);
    const ticks = all.filter((_t, i) => i === 0 || allExt[i]![1] <= trackPx);
    const ext = tickExtents(ticks, x);
    if (ext.every((e, i) => i === 0 || ext[i - 1]![1] + LABEL_GAP_PX <= e[0])) return { ticks, step };
  }
  return { ticks: [{ at: start, label: formatOffset(0) }], step: span };
}

/** A bar's label fits inside it with its inset on both sides. */
const fitsIn = (label: string, span: Span, x: (t: number) => number, fontRem: number): boolean =>
  textWidthPx(label, fontRem) + SEGMENT_INSET_PX <= x(span.to) - x(span.from);

/** The lateness label goes after the outcome marker if it fits in the track, else before it, else nowhere. */
function lateSide(label: string | null, at: number | null, x: (t: number) => number, trackPx: number): AttemptLane['lateSide'] {
  if (label === null || at === null) return null;
  const w = textWidthPx(label, LABEL_FONT.late);
  const cx = x(at);
  if (cx + LATE_OFFSET_PX + w <= trackPx) return 'after';
  if (cx - LATE_OFFSET_PX - w >= 0) return 'before';
  return null;
}

export function layoutTimeline(
  run: Run,
  events: readonly RunEventEntry[],
  now: number,
  seenRestarts: readonly RestartMark[] = [],
  trackPx: number = DEFAULT_TRACK_PX,
): Timeline {
  const running = run.status === 'running';
  const start = ms(run.createdAt);
  const lanes = run.attempts.map((_, i) => lane(run, i, now));
  const retryDue = msOrNull(run.retryDue);
  const last = lanes[lanes.length - 1];

  // The axis covers everything known, and while running also the deadlines ahead, so it does not rescale every tick.
  const instants: number[] = [start + 1_000];
  for (const a of lanes) {
    instants.push(a.trigger.to, a.endedAt ?? a.dueAt);
    if (a.open) instants.push(a.dueAt);
  }
  const pendingStarts = running && run.state === 'retrying' && retryDue !== null && last?.endedAt != null ? retryDue : null;
  if (pendingStarts !== null) instants.push(pendingStarts);
  for (const e of events) instants.push(ms(e.at));
  const finished = msOrNull(run.finishedAt);
  if (finished !== null) instants.push(finished);
  if (running) instants.push(now);
  const rawEnd = Math.max(...instants);
  const end = rawEnd + (rawEnd - start) * 0.04;

  const width = Math.max(1, trackPx);
  const x = (t: number): number => (pct(t, { start, end }) / 100) * width;

  const attempts: AttemptLane[] = lanes.map((a) => ({
    ...a,
    backoffLabelFits: a.backoffLabel !== null && a.backoffBefore !== null && fitsIn(a.backoffLabel, a.backoffBefore, x, LABEL_FONT.segment),
    lateSide: lateSide(a.lateLabel, a.endedAt, x, width),
  }));
  let pending: PendingAttempt | null = null;
  if (pendingStarts !== null && last?.endedAt != null) {
    const backoff = { from: last.endedAt, to: pendingStarts };
    const backoffLabel = `backoff ${formatDuration(backoff.to - backoff.from)}`;
    pending = {
      number: last.number + 1,
      backoff,
      startsAt: pendingStarts,
      backoffLabel,
      backoffLabelFits: fitsIn(backoffLabel, backoff, x, LABEL_FONT.segment),
    };
  }

  const callbacks = callbackMarks(run, events);
  const laneLevels = stackMarks(callbacks, x);
  let lastFlag = Number.NEGATIVE_INFINITY;
  const restarts = restartMarks(events, seenRestarts)
    .filter((r) => r.at >= start && r.at <= end)
    .map((r) => {
      const flag = x(r.at) - lastFlag >= FLAG_PX;
      if (flag) lastFlag = x(r.at);
      return { ...r, flag };
    });

  const { ticks: allTicks, step } = ticksFor(start, end, x, width);
  // A restart's ⟳ flag sits on the axis row: a tick label under it gives way (the origin's never does).
  const flags = restarts.filter((r) => r.flag).map((r): [number, number] => [x(r.at), x(r.at) + FLAG_PX + 2]);
  const ext = tickExtents(allTicks, x);
  const ticks = allTicks.filter((_t, i) => i === 0 || !flags.some(([l, r]) => ext[i]![0] < r && l < ext[i]![1]));
  return {
    start,
    end,
    now,
    running,
    attempts,
    pending,
    callbacks,
    restarts,
    deadlineAt: msOrNull(run.deadlineAt),
    ticks,
    tickStepMs: step,
    laneLevels,
    trackPx: width,
  };
}

/** Position of an instant on the axis, in percent. */
export const pct = (t: number, tl: Pick<Timeline, 'start' | 'end'>): number =>
  Math.min(100, Math.max(0, ((t - tl.start) / (tl.end - tl.start)) * 100));

/** Width of a span on the axis, in percent, at least a hair so a 5 ms trigger stays visible. */
export const widthPct = (s: Span, tl: Pick<Timeline, 'start' | 'end'>, min = 0.4): number => Math.max(min, pct(s.to, tl) - pct(s.from, tl));
