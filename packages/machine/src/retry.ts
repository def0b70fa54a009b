import type { Backoff, ResolvedRunConfig, RunConfig } from './protocol/run-config.ts';
import { BACKOFF_DEFAULTS, resolveRunConfig } from './config.ts';

/**
 * A deterministic number in [0, 1) from a string: FNV-1a then a murmur-style finaliser.
 * Jitter must be replayable, so it comes from (runId, attempt), never from Math.random().
 */
export function unitHash(seed: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/**
 * Seconds to wait after attempt `attemptNumber` (1-based) failed before starting the next one.
 * Pure: exponential `initialSeconds * multiplier^(n-1)` capped at `maxSeconds`, then jitter drawn from `seed`.
 * Always within [0, maxSeconds].
 */
export function retryDelay(backoff: Backoff | undefined, attemptNumber: number, seed: string): number {
  const b = { ...BACKOFF_DEFAULTS, ...backoff };
  const exponent = Math.max(0, attemptNumber - 1);
  const raw = b.initialSeconds * Math.pow(b.multiplier, exponent);
  // An overflowing power is Infinity (capped below), but 0 * Infinity is NaN: a zero initial delay stays zero.
  const base = Number.isNaN(raw) ? 0 : Math.min(b.maxSeconds, raw);
  if (b.jitter === 'none') return base;
  const r = unitHash(`${seed}:${attemptNumber}`);
  return b.jitter === 'full' ? base * r : base / 2 + (base / 2) * r;
}

/** The same delay in whole milliseconds, as the machine schedules it. */
export const retryDelayMs = (backoff: Backoff | undefined, attemptNumber: number, seed: string): number =>
  Math.round(retryDelay(backoff, attemptNumber, seed) * 1000);

export const secondsToMs = (s: number): number => Math.round(s * 1000);

/**
 * An attempt starts no sooner than this after the previous attempt started, whatever the backoff says.
 *
 * Why: a zero backoff (`initialSeconds: 0`, or `jitter: 'full'` drawing ~0) with a tiny `timeoutSeconds`, or a target
 * that fails every trigger at once (a trigger failure ends the attempt without waiting for any timeout), would
 * otherwise cycle up to 1001 attempts as fast as the host can commit, each attempt costing up to three durable
 * commits (open, trigger outcome, timeout). With this floor a run makes at most 1000 / MIN_ATTEMPT_PERIOD_MS = 10
 * attempts per second, so at most 30 engine-driven commits per second.
 *
 * Start to start, not a floor on every delay: an attempt that lasted 100 ms or more (any run whose attempts wait for a
 * callback) keeps exactly the backoff it asked for, zero included; only attempts shorter than that are held back.
 * A constant, not a config field: it is part of the machine's rules, so replay stays exact without storing it per run.
 */
export const MIN_ATTEMPT_PERIOD_MS = 100;

/**
 * When the attempt after `attempt` starts, if `attempt` ended at `endedAt`: its backoff after the end, but never sooner
 * than MIN_ATTEMPT_PERIOD_MS after it started. The one rule the machine schedules retries by and `forecast()` plans with.
 */
export function nextAttemptAt(backoff: Backoff | undefined, attempt: { number: number; started: number }, endedAt: number, seed: string): number {
  return Math.max(endedAt + retryDelayMs(backoff, attempt.number, seed), attempt.started + MIN_ATTEMPT_PERIOD_MS);
}

export interface ForecastAttempt {
  /** 1-based attempt number. */
  number: number;
  /** When the attempt starts (epoch ms); for the current attempt, when it started. */
  startsAt: number;
  /** Its worst-case end: the callback timeout (capped by the deadline), epoch ms. */
  timeoutDue: number;
  /** Backoff before it, ms (0 for the first). */
  gapBeforeMs: number;
  /** True for the attempt already running when the forecast was made. */
  current: boolean;
}

export interface Forecast {
  attempts: ForecastAttempt[];
  /** When the run gives up if no attempt is ever called back, epoch ms. */
  givesUpAt: number;
  /** Why it stops there. */
  stopsBecause: 'retryLimit' | 'deadline';
}

/** Where a forecast starts: before launch, just a start time; for a live run, its snapshot's context. */
export type ForecastFrom =
  | { startAt: number }
  | {
      context: {
        runId: string;
        deadlineAt: number | null;
        retryDue: number | null;
        updatedAt: number;
        attempts: ReadonlyArray<{ number: number; started: number; timeoutDue: number; endedAt: number | null; state: string }>;
      };
    };

/**
 * The worst-case schedule of the remaining attempts: every attempt waits its whole timeout, then backs off.
 * Shares `nextAttemptAt` (the backoff and the minimum attempt period) and the deadline rule with the machine, so the
 * forecast is what the machine will do.
 */
export function forecast(config: RunConfig | ResolvedRunConfig, from: ForecastFrom, runId = 'run_forecast'): Forecast {
  const c = resolveRunConfig(config as RunConfig);
  const maxAttempts = 1 + c.retryLimit;
  const timeoutMs = secondsToMs(c.timeoutSeconds);
  const out: ForecastAttempt[] = [];
  let number: number;
  let startsAt: number;
  let gap = 0;
  let deadlineAt: number | null;
  let seed = runId;

  if ('startAt' in from) {
    number = 1;
    startsAt = from.startAt;
    deadlineAt = c.deadlineSeconds !== undefined ? from.startAt + secondsToMs(c.deadlineSeconds) : null;
  } else {
    const ctx = from.context;
    seed = ctx.runId;
    deadlineAt = ctx.deadlineAt;
    const last = ctx.attempts[ctx.attempts.length - 1];
    if (!last) {
      number = 1;
      startsAt = ctx.updatedAt;
    } else if (last.state === 'Triggering' || last.state === 'AwaitingCallback') {
      out.push({ number: last.number, startsAt: last.started, timeoutDue: last.timeoutDue, gapBeforeMs: 0, current: true });
      number = last.number + 1;
      startsAt = nextAttemptAt(c.backoff, last, last.timeoutDue, seed);
      gap = startsAt - last.timeoutDue;
    } else if (ctx.retryDue !== null) {
      number = last.number + 1;
      startsAt = ctx.retryDue;
      gap = ctx.retryDue - (last.endedAt ?? ctx.retryDue);
    } else {
      // Final: nothing remains.
      return { attempts: [], givesUpAt: last.endedAt ?? last.timeoutDue, stopsBecause: 'retryLimit' };
    }
  }

  let stopsBecause: Forecast['stopsBecause'] = 'retryLimit';
  while (number <= maxAttempts) {
    if (deadlineAt !== null && number > 1 && startsAt >= deadlineAt) {
      stopsBecause = 'deadline';
      break;
    }
    const due = deadlineAt !== null ? Math.min(startsAt + timeoutMs, deadlineAt) : startsAt + timeoutMs;
    out.push({ number, startsAt, timeoutDue: due, gapBeforeMs: number === 1 ? 0 : gap, current: false });
    const next = nextAttemptAt(c.backoff, { number, started: startsAt }, due, seed);
    gap = next - due;
    startsAt = next;
    number++;
  }
  const lastOut = out[out.length - 1];
  if (deadlineAt !== null && lastOut && lastOut.timeoutDue >= deadlineAt) stopsBecause = 'deadline';
  return { attempts: out, givesUpAt: lastOut ? lastOut.timeoutDue : startsAt, stopsBecause };
}
