/**
 * Run documents and RunChanges for the store conformance suite, built the way the engine builds them: the pure core
 * (src/core/step.ts) makes each next document (`version` = the previous + 1) and `change()` turns a step into the
 * RunChange engine.ts `commit()` would send. No engine, no clock, no network: every time is fixed, so two processes
 * (the suite and a crash child) build byte-identical documents from the same arguments.
 */
import { attemptIdFor, toRunSummary, type ResolvedRunConfig } from '@tether/machine';
import { applyEvent, callbackStep, createRun, heartbeatStep, hydrate, type LogPolicy, type StepResult } from '../../src/core/step.ts';
import type { RunChange } from '../../src/store/contract.ts';
import type { RunDoc } from '../../src/store/types.ts';
import { config } from '../helpers/engine.ts';
import { runIdFor } from '../helpers/run-docs.ts';

export { runIdFor };

/** Every run of the suite is created at T0 + its number (ms): ids and creation times sort alike. */
export const T0 = Date.UTC(2026, 0, 1);
const policy: LogPolicy = { maxRejected: 20 };

/** One commit as the engine makes it: the run's new document, the version it was made from, and the change. */
export interface Step {
  doc: RunDoc;
  expectedVersion: number;
  change: RunChange;
}

/** The RunChange engine.ts commit() builds from a step (a new run's commit brings its whole log). */
function toStep(result: StepResult, creating: boolean): Step {
  const doc = result.doc;
  return {
    doc,
    expectedVersion: (doc.version ?? 1) - 1,
    change: {
      doc,
      summary: toRunSummary(doc.snapshot),
      appended: creating ? doc.events : [result.entry],
      replacedLast: result.replacedLast,
      timers: doc.timers,
      outbox: doc.outbox,
    },
  };
}

const configs = new Map<string, ResolvedRunConfig>();
function configNamed(name: string): ResolvedRunConfig {
  let c = configs.get(name);
  if (!c) configs.set(name, (c = config({ target: { url: 'http://127.0.0.1:9/jobs' }, name, timeoutSeconds: 60, retryLimit: 3 })));
  return c;
}

const lastAt = (doc: RunDoc): number => Date.parse(doc.events[doc.events.length - 1]!.at);
const currentAttemptId = (doc: RunDoc): string => {
  const attempts = doc.snapshot.context.attempts;
  return attempts[attempts.length - 1]!.id;
};

/**
 * Run number `n` created and started (version 1): state `triggering`, one outbox entry (its trigger), one timer (the
 * attempt's timeout, due T0 + n + 60 s). Its name is `name` (default `run <n>`).
 */
export function created(n: number, name = `run ${n}`): Step {
  const at = T0 + n;
  return toStep(createRun(runIdFor(n), configNamed(name), at, null, policy), true);
}

/** The step after `prev`, `dt` ms after its last entry. */
export const next = {
  /** The trigger was answered 2xx: `awaitingCallback`, outbox empty, the timeout timer stays. */
  triggered(prev: RunDoc, dt = 10): Step {
    const attemptId = currentAttemptId(prev);
    const at = lastAt(prev) + dt;
    return toStep(
      applyEvent(prev, hydrate(prev.snapshot), { type: 'trigger.succeeded', attemptId, at }, { source: 'trigger', removeOutbox: attemptId }, policy),
      false,
    );
  },
  /** The trigger failed: `retrying`, outbox empty, one backoff timer. */
  triggerFailed(prev: RunDoc, dt = 10): Step {
    const attemptId = currentAttemptId(prev);
    const at = lastAt(prev) + dt;
    const event = { type: 'trigger.failed' as const, attemptId, message: 'connection refused', at };
    return toStep(applyEvent(prev, hydrate(prev.snapshot), event, { source: 'trigger', removeOutbox: attemptId }, policy), false);
  },
  /** The run's earliest timer fires (a retry's backoff: the next attempt, with its own trigger in the outbox). */
  timerFired(prev: RunDoc): Step {
    const t = [...prev.timers].sort((a, b) => a.dueAt - b.dueAt)[0];
    if (!t) throw new Error(`${prev.id} has no timer`);
    const event = { type: t.eventType as `xstate.after.${string}`, at: t.dueAt };
    return toStep(applyEvent(prev, hydrate(prev.snapshot), event, { source: 'timer' }, policy), false);
  },
  /** A heartbeat to the current attempt (accepted while it waits for its callback; consecutive ones fold). */
  heartbeat(prev: RunDoc, progress?: unknown, dt = 10): Step {
    const attemptId = currentAttemptId(prev);
    const at = lastAt(prev) + dt;
    const event =
      progress === undefined
        ? { type: 'heartbeat.received' as const, attemptId, at }
        : { type: 'heartbeat.received' as const, attemptId, progress, at };
    return toStep(heartbeatStep(prev, event, 'callback', policy).step, false);
  },
  /** The success callback: `succeeded`, final, no timers, no outbox. */
  succeeded(prev: RunDoc, dt = 10): Step {
    const event = { type: 'callback.received' as const, attemptId: currentAttemptId(prev), success: true, at: lastAt(prev) + dt };
    return toStep(callbackStep(prev, event, 'callback', policy).step, false);
  },
  /** Cancelled by the API: `cancelled`, final. */
  cancelled(prev: RunDoc, dt = 10): Step {
    return toStep(
      applyEvent(prev, hydrate(prev.snapshot), { type: 'run.cancel', reason: 'test', at: lastAt(prev) + dt }, { source: 'api' }, policy),
      false,
    );
  },
};

/** The attempt id of run `n`'s attempt `k`. */
export const attemptOf = (n: number, k: number): string => attemptIdFor(runIdFor(n), k);

/**
 * The crash workload, shared by the suite (what it expects) and every store's crash child (what it commits): run
 * `first + i` goes through these steps, in order. Every third run ends final (succeeded); every fifth goes through a
 * failed trigger and a retry (attempt 2, a trigger in its outbox); the rest wait for their callback with a timer.
 */
export function crashScript(n: number): Step[] {
  const steps = [created(n, `crash ${n}`)];
  const last = () => steps[steps.length - 1]!.doc;
  if (n % 5 === 0) {
    steps.push(next.triggerFailed(last()));
    steps.push(next.timerFired(last()));
    return steps;
  }
  steps.push(next.triggered(last()));
  if (n % 3 === 0) steps.push(next.succeeded(last()));
  return steps;
}

/**
 * What a crash child does (the store opened on the shared storage): commits the crash script of runs first,
 * first + 1, … first + count - 1, `concurrency` runs at a time (each run's steps in order, each awaited), and calls
 * `acknowledged(id)` once the last commit of run `id` has resolved — not before.
 */
export async function runCrashWorkload(
  store: { commit(runId: string, expectedVersion: number, change: RunChange): Promise<void> },
  opts: { first: number; count: number; concurrency?: number },
  acknowledged: (runId: string) => void,
): Promise<void> {
  let nextRun = opts.first;
  const end = opts.first + opts.count;
  const worker = async () => {
    while (nextRun < end) {
      const n = nextRun++;
      const steps = crashScript(n);
      for (const s of steps) await store.commit(s.doc.id, s.expectedVersion, s.change);
      acknowledged(steps[0]!.doc.id);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
}
