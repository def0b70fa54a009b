/**
 * The soak's scripts: what each run asks the built-in simulator to do, attempt by attempt, and what the soak driver
 * does to it from outside (its own callbacks for `never` attempts, a cancel). Pure and seeded, so a failing soak can be
 * replayed with the same `--seed`.
 */
import type { AttemptStateName, RunConfig } from '@tether/machine';
import { SIMULATOR_OUTCOMES } from '@tether/machine/protocol';

export type Outcome = (typeof SIMULATOR_OUTCOMES)[number];

/** A callback the soak driver sends itself, to an attempt the simulator leaves waiting (`never`). */
export interface DriverCallback {
  attempt: number;
  success: boolean;
  /** With success=false: false stops the retries. */
  retryable: boolean;
  /** How long after the driver sees the attempt waiting. */
  afterMs: number;
}

export interface SoakScript {
  /** Unique per soak: a run whose creation answer was lost to a kill is found again by it. */
  name: string;
  retryLimit: number;
  timeoutSeconds: number;
  /** The simulator's delay before a callback (after the timeout, for `late`). */
  delaySeconds: number;
  /** Outcome of attempt n is `outcomes[min(n, length) - 1]`: the simulator's own rule. */
  outcomes: Outcome[];
  /** Sent as `simulate.perAttempt` (else `simulate.outcome`, one outcome for every attempt). */
  perAttempt: boolean;
  driverCallbacks: DriverCallback[];
  /** The driver cancels the run this long after creating it; null: never. */
  cancelAfterMs: number | null;
}

/** mulberry32: small, seeded, good enough to pick scripts. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WEIGHTS: Record<Outcome, number> = { success: 25, failure: 15, never: 15, triggerError: 10, late: 10, duplicate: 10, early: 15 };

function pickOutcome(rand: () => number): Outcome {
  const total = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
  let x = rand() * total;
  for (const o of SIMULATOR_OUTCOMES) {
    x -= WEIGHTS[o];
    if (x < 0) return o;
  }
  return 'success';
}

const between = (rand: () => number, lo: number, hi: number) => lo + rand() * (hi - lo);
const round = (x: number, step: number) => Math.round(x / step) * step;

export function outcomeOf(script: Pick<SoakScript, 'outcomes'>, attempt: number): Outcome {
  return script.outcomes[Math.min(attempt, script.outcomes.length) - 1]!;
}

export function makeScript(rand: () => number, name: string): SoakScript {
  const retryLimit = Math.floor(rand() * 4);
  const perAttempt = rand() < 0.5;
  const outcomes = perAttempt ? Array.from({ length: 1 + retryLimit }, () => pickOutcome(rand)) : [pickOutcome(rand)];
  // The timeout leaves a callback after `delaySeconds` at least 0.7 s of margin on a busy two-core machine, so an
  // undisturbed attempt's outcome is decided by its script, not by scheduling noise.
  const timeoutSeconds = round(between(rand, 1, 2), 0.1);
  const delaySeconds = round(between(rand, 0.05, 0.3), 0.01);
  const driverCallbacks: DriverCallback[] = [];
  for (let n = 1; n <= 1 + retryLimit; n++) {
    if (outcomeOf({ outcomes }, n) !== 'never' || rand() < 0.4) continue;
    const success = rand() < 0.6;
    driverCallbacks.push({ attempt: n, success, retryable: success || rand() < 0.7, afterMs: Math.round(between(rand, 50, 400)) });
  }
  const cancelAfterMs = rand() < 0.08 ? Math.round(between(rand, 200, 4000)) : null;
  return { name, retryLimit, timeoutSeconds, delaySeconds, outcomes, perAttempt, driverCallbacks, cancelAfterMs };
}

export function runConfigFor(script: SoakScript, targetUrl: string): RunConfig {
  const simulate = script.perAttempt
    ? { perAttempt: script.outcomes, delaySeconds: script.delaySeconds }
    : { outcome: script.outcomes[0], delaySeconds: script.delaySeconds };
  return {
    name: script.name,
    target: { url: targetUrl },
    payload: { simulate },
    timeoutSeconds: script.timeoutSeconds,
    retryLimit: script.retryLimit,
    backoff: { initialSeconds: 0.2, multiplier: 1.5, maxSeconds: 0.6 },
    triggerTimeoutSeconds: 5,
  };
}

/** The final answer a driver request got: an HTTP status and the body's `result`, or null when every try was lost. */
export interface DriverAnswer {
  status: number | null;
  result: string | null;
  /** Earlier tries whose answer was lost (the server died mid-request): the request may or may not have landed. */
  lostTries: number;
}

/** What an attempt settles as when nothing disturbs it, given the script and the driver's definitive answers. */
export function undisturbedState(script: SoakScript, attempt: number, driver: DriverAnswer | undefined): AttemptStateName | 'either' {
  const o = outcomeOf(script, attempt);
  switch (o) {
    case 'success':
    case 'duplicate':
    case 'early':
      return 'CallbackSuccess';
    case 'failure':
      return 'CallbackFailure';
    case 'triggerError':
      return 'TriggerFailed';
    case 'late':
      return 'TimedOut';
    case 'never': {
      const dc = script.driverCallbacks.find((d) => d.attempt === attempt);
      if (!dc || !driver) return 'TimedOut';
      // A retried callback answered `duplicate` means an earlier try (whose answer was lost) was the one accepted.
      if (driver.result === 'accepted' || driver.result === 'duplicate') return dc.success ? 'CallbackSuccess' : 'CallbackFailure';
      if (driver.status === null) return 'either';
      return 'TimedOut';
    }
  }
}

export const FAILED_ATTEMPT_STATES: readonly AttemptStateName[] = ['CallbackFailure', 'TriggerFailed', 'TimedOut', 'HeartbeatTimedOut'];

/** The run's final status and attempt count from the script alone, when nothing disturbs it and nobody cancels. */
export function scriptedFinal(
  script: SoakScript,
  driver: (attempt: number) => DriverAnswer | undefined,
): { status: 'succeeded' | 'failed'; attempts: number } | null {
  for (let n = 1; n <= 1 + script.retryLimit; n++) {
    const state = undisturbedState(script, n, driver(n));
    if (state === 'either') return null;
    if (state === 'CallbackSuccess') return { status: 'succeeded', attempts: n };
    const dc = script.driverCallbacks.find((d) => d.attempt === n);
    if (state === 'CallbackFailure' && dc && !dc.retryable && outcomeOf(script, n) === 'never') return { status: 'failed', attempts: n };
  }
  return { status: 'failed', attempts: 1 + script.retryLimit };
}
