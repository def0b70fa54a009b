/**
 * Run documents built with the pure machine (no engine), for store tests: realistic snapshots and logs
 * without a network or a clock.
 */
import { initialTransition, transition } from 'xstate';
import { attemptIdFor, leafState, runMachine, toRunSummary, type RunEvent, type RunEventEntry, type RunSummary } from '@tether/machine';
import type { PersistedRunSnapshot, RunDoc } from '../../src/store/types.ts';
import { config } from './engine.ts';

const T0 = Date.UTC(2026, 0, 1);

export type DocStage = 'triggering' | 'awaitingCallback' | 'succeeded';

/** A run id as the engine makes them (`run_` + base36 time + random), unique per `n`. */
export const runIdFor = (n: number): string => `run_${(T0 + n).toString(36).padStart(9, '0')}${n.toString(32).padStart(8, '0')}`;

export function makeDoc(runId: string, stage: DocStage = 'awaitingCallback', at = T0): RunDoc {
  const input = { runId, config: config({ target: { url: 'http://127.0.0.1:9/jobs' }, name: `doc ${runId}` }), at };
  let [snap] = initialTransition(runMachine, input);
  const events: RunEventEntry[] = [
    { seq: 0, at: new Date(at).toISOString(), type: 'run.created', source: 'api', verdict: 'recorded', stateAfter: leafState(snap.value) },
  ];
  const attemptId = attemptIdFor(runId, 1);
  const script: RunEvent[] = [{ type: 'run.start', at }];
  if (stage !== 'triggering') script.push({ type: 'trigger.succeeded', attemptId, at: at + 10 });
  if (stage === 'succeeded') script.push({ type: 'callback.received', attemptId, success: true, at: at + 20 });
  for (const event of script) {
    [snap] = transition(runMachine, snap, event);
    events.push({
      seq: events.length,
      at: new Date(event.at).toISOString(),
      type: event.type,
      source: 'api',
      verdict: 'applied',
      stateAfter: leafState(snap.value),
      event,
    });
  }
  const snapshot = JSON.parse(JSON.stringify(runMachine.getPersistedSnapshot(snap))) as PersistedRunSnapshot;
  const timers =
    stage === 'succeeded'
      ? []
      : [
          {
            key: `xstate.after.attemptTimeout.run.attempt.${stage}`,
            dueAt: snapshot.context.attempts[0]!.timeoutDue,
            eventType: `xstate.after.attemptTimeout.run.attempt.${stage}`,
          },
        ];
  const outbox = stage === 'triggering' ? [{ id: attemptId, kind: 'trigger' as const, attemptId, number: 1, createdAt: at, sends: 0 }] : [];
  return { v: 1, id: runId, input, rerunOf: null, snapshot, timers, outbox, events };
}

export const summaryOf = (doc: RunDoc): RunSummary => toRunSummary(doc.snapshot);
