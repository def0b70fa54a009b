/**
 * A small, correct soak outcome built with the pure machine, for testing the soak's checks: one run scripted
 * `never` then `success` (attempt 1 times out, the retry timer opens attempt 2, the simulator's callback succeeds it),
 * logged as the engine logs it. The checks must find nothing wrong with it, and must find each violation planted in it.
 */
import { initialTransition, transition } from 'xstate';
import { attemptIdFor, leafState, parseRunConfig, runMachine, toRun, type RunEvent, type RunEventEntry, type TimerEvent } from '@tether/machine';
import type { PersistedRunSnapshot, RunDoc } from '../../src/store/types.ts';
import type { SoakEvidence } from './soak-checks.ts';
import { runConfigFor, type SoakScript } from './soak-script.ts';
import type { Boot } from './soak-server.ts';

const T0 = Date.UTC(2026, 0, 1, 12);
const iso = (ms: number) => new Date(ms).toISOString();

export const fixtureScript: SoakScript = {
  name: 'soak-fixture-0',
  retryLimit: 1,
  timeoutSeconds: 1,
  delaySeconds: 0.1,
  outcomes: ['never', 'success'],
  perAttempt: true,
  driverCallbacks: [],
  cancelAfterMs: null,
};

export function cleanEvidence(): SoakEvidence {
  const runId = 'run_0fixture00000000';
  const parsed = parseRunConfig(runConfigFor(fixtureScript, 'http://127.0.0.1:3000/simulator/jobs'));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const input = { runId, config: parsed.value, at: T0 };
  let [snap] = initialTransition(runMachine, input);
  const events: RunEventEntry[] = [
    { seq: 0, at: iso(T0), type: 'run.created', source: 'api', verdict: 'recorded', detail: 'Created.', stateAfter: 'idle' },
  ];
  const a1 = attemptIdFor(runId, 1);
  const a2 = attemptIdFor(runId, 2);
  const apply = (event: RunEvent | TimerEvent, source: RunEventEntry['source'], extra: Partial<RunEventEntry> = {}) => {
    [snap] = transition(runMachine, snap, event as RunEvent);
    const attemptId = (event as { attemptId?: string }).attemptId;
    events.push({
      seq: events.length,
      at: iso(event.at),
      type: event.type,
      source,
      verdict: 'applied',
      ...(attemptId ? { attemptId } : {}),
      stateAfter: leafState(snap.value),
      event,
      ...extra,
    });
  };
  const timer = (type: string, due: number, late: number) =>
    apply({ type, at: due + late } as TimerEvent, 'timer', { detail: `Timer due ${iso(due)} fired ${late} ms late.` });
  apply({ type: 'run.start', at: T0 }, 'api');
  apply({ type: 'trigger.succeeded', attemptId: a1, at: T0 + 20 }, 'trigger');
  timer('xstate.after.attemptTimeout.run.attempt.awaitingCallback', T0 + 1000, 12);
  timer('xstate.after.retryBackoff.run.retrying', T0 + 1012 + 200, 3);
  apply({ type: 'trigger.succeeded', attemptId: a2, at: T0 + 1240 }, 'trigger');
  apply({ type: 'callback.received', attemptId: a2, success: true, at: T0 + 1350 }, 'callback', { httpStatus: 200, detail: 'Success accepted.' });
  const snapshot = JSON.parse(JSON.stringify(runMachine.getPersistedSnapshot(snap))) as PersistedRunSnapshot;
  const doc: RunDoc = { v: 1, id: runId, input, rerunOf: null, snapshot, timers: [], outbox: [], events };
  const boots: Boot[] = [
    { n: 1, pid: 1, spawnedAt: T0 - 3000, upAt: T0 - 1000, killedAt: null, exit: { code: 0, signal: null, at: T0 + 5000 }, expected: true },
  ];
  return {
    records: [{ script: structuredClone(fixtureScript), runId, driverAnswers: new Map(), cancel: null }],
    served: new Map([[runId, { run: toRun(snapshot), events: structuredClone(events) }]]),
    files: new Map([[runId, doc]]),
    answers: [{ runId, attemptId: a2, by: 'simulator', status: 200, result: 'accepted' }],
    triggers: [
      { runId, attemptId: a1, idempotencyKey: a1 },
      { runId, attemptId: a2, idempotencyKey: a2 },
    ],
    boots,
    timerToleranceMs: 1000,
  };
}
