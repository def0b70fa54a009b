/**
 * A generator of plausible host histories for property tests: abstract steps (advance time, or deliver an event
 * for the current / previous / next attempt) that are made concrete against the host's current state, so a
 * sequence mixes accepted events with stale, duplicate, early and late ones.
 */
import fc from 'fast-check';
import type { RunConfig } from '../src/index.ts';
import { Host, TIMER, type HostEvent, type TimerFire, type TimerType } from './drive.ts';

export type Who = 'current' | 'previous' | 'next';

export type Step =
  | { kind: 'advance'; ms: number; lateMs: number }
  | { kind: 'start'; dt: number }
  | { kind: 'triggerOk'; dt: number; who: Who }
  | { kind: 'triggerFail'; dt: number; who: Who; message: string }
  | { kind: 'callback'; dt: number; who: Who; success: boolean; retryable?: boolean; message?: string; output?: unknown }
  | { kind: 'heartbeat'; dt: number; who: Who; progress?: unknown }
  | { kind: 'cancel'; dt: number; reason?: string }
  | { kind: 'retryNow'; dt: number }
  | { kind: 'forceTimeout'; dt: number; who: Who }
  | { kind: 'rawTimer'; dt: number; timer: TimerType };

const who = fc.constantFrom<Who>('current', 'current', 'current', 'previous', 'next');
const dt = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 2_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 30_000 }) });
/** JSON values that survive JSON.stringify/parse unchanged (no -0, no undefined inside). */
const payload = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.constant(null),
  fc.record({ percent: fc.integer({ min: 0, max: 100 }) }),
  fc.array(fc.boolean(), { maxLength: 3 }),
);
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

/** Drops undefined keys so an event is exactly what a JSON log would hold. */
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 5_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 90_000 }) }),
      // Mostly on time; sometimes a little late; sometimes very late (the host was down).
      lateMs: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 3_000 }) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 300_000 }) },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('start' as const), dt }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('triggerOk' as const), dt, who }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('triggerFail' as const), dt, who, message: fc.constantFrom('HTTP 503', 'ECONNREFUSED', '') }),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        kind: fc.constant('callback' as const),
        dt,
        who,
        success: fc.boolean(),
        retryable: opt(fc.boolean()),
        message: opt(fc.string({ maxLength: 12 })),
        output: opt(payload),
      })
      .map((s) => defined(s)),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), dt, who, progress: opt(payload) }).map((s) => defined(s)) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), dt, reason: opt(fc.string({ maxLength: 12 })) }).map((s) => defined(s)) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retryNow' as const), dt }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('forceTimeout' as const), dt, who }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('rawTimer' as const), dt, timer: fc.constantFrom(...Object.values(TIMER)) }),
  },
);

/**
 * A history: a config and the steps a host goes through. Most runs are started first (a history stuck in idle
 * tests little); some are not, so idle gets its share of stray events.
 */
export const historyArb = (maxSteps = 40) =>
  fc
    .tuple(
      configArb,
      fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      fc.array(stepArb, { minLength: 1, maxLength: maxSteps }),
    )
    .map(([config, startFirst, steps]): [RunConfig, Step[]] => [config, startFirst ? [{ kind: 'start', dt: 0 }, ...steps] : steps]);

export const configArb: fc.Arbitrary<RunConfig> = fc
  .record(
    {
      timeoutSeconds: fc.double({ min: 0.5, max: 60, noNaN: true }),
      retryLimit: fc.integer({ min: 0, max: 4 }),
      backoff: fc.record(
        {
          initialSeconds: fc.double({ min: 0, max: 5, noNaN: true }),
          multiplier: fc.double({ min: 1, max: 3, noNaN: true }),
          maxSeconds: fc.double({ min: 5, max: 20, noNaN: true }),
          jitter: fc.constantFrom('none' as const, 'full' as const, 'equal' as const),
        },
        { requiredKeys: [] },
      ),
      heartbeatTimeoutSeconds: fc.double({ min: 0.5, max: 20, noNaN: true }),
      deadlineSeconds: fc.double({ min: 1, max: 300, noNaN: true }),
    },
    { requiredKeys: ['timeoutSeconds', 'retryLimit'] },
  )
  .map((c) => ({ target: { url: 'https://jobs.example.com/start' }, ...c }));

const idFor = (h: Host, w: Who): string => {
  const n = h.attempt?.number ?? 1;
  return h.idOf(w === 'current' ? n : w === 'previous' ? Math.max(1, n - 1) : n + 1);
};

/** The concrete event a step delivers at `at`, given the host's state at that moment. */
function concretize(h: Host, step: Exclude<Step, { kind: 'advance' }>, at: number): HostEvent {
  switch (step.kind) {
    case 'rawTimer':
      // Everything due by `at` has fired already, so this one is early, stale or for a state the run is not in.
      return { type: step.timer, at };
    case 'start':
      return { type: 'run.start', at };
    case 'triggerOk':
      return { type: 'trigger.succeeded', attemptId: idFor(h, step.who), at };
    case 'triggerFail':
      return { type: 'trigger.failed', attemptId: idFor(h, step.who), message: step.message, at };
    case 'callback':
      return defined({
        type: 'callback.received',
        attemptId: idFor(h, step.who),
        success: step.success,
        retryable: step.retryable,
        message: step.message,
        output: step.output,
        at,
      });
    case 'heartbeat':
      return defined({ type: 'heartbeat.received', attemptId: idFor(h, step.who), progress: step.progress, at });
    case 'cancel':
      return defined({ type: 'run.cancel', reason: step.reason, at });
    case 'retryNow':
      return { type: 'run.retryNow', at };
    case 'forceTimeout':
      return { type: 'attempt.forceTimeout', attemptId: idFor(h, step.who), at };
  }
}

export interface StepResult {
  fired: TimerFire[];
  /** The event the step delivered after the due timers, if any. */
  event: HostEvent | null;
}

/**
 * Performs a step as a real host would: time never goes back, and every timer due by an event's time fires
 * (possibly late) before the event is delivered.
 */
export function perform(h: Host, step: Step): StepResult {
  if (step.kind === 'advance') return { fired: h.advanceTo(h.now + step.ms, step.lateMs), event: null };
  const fired = h.advanceTo(h.now + step.dt);
  // A late timer may have moved the host past the step's time: events are stamped no earlier than now.
  const event = concretize(h, step, h.now);
  h.send(event);
  return { fired, event };
}

/** Replays what `perform` did on another host (e.g. one that persists every step): the same fires, then the same event. */
export function performLike(h: Host, step: Step, done: StepResult): StepResult {
  const late = step.kind === 'advance' ? step.lateMs : 0;
  const target = step.kind === 'advance' ? h.now + step.ms : h.now + step.dt;
  const fired = h.advanceTo(target, late);
  if (done.event) h.send(done.event);
  return { fired, event: done.event };
}
