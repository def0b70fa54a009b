import { describe, expect, it } from 'vitest';
import Value from 'typebox/value';
import { initialTransition, transition } from 'xstate';
import {
  ATTEMPT_STATES,
  AttemptState,
  CallbackBody,
  DERIVED_FILTERS,
  DERIVED_PREDICATES,
  ErrorBody,
  MachineGraph,
  resolveRunConfig,
  runMachine,
  toRun,
  toRunSummary,
  FINAL_STATES,
  OVERDUE_GRACE_MS,
  RESTING_STATES,
  RunStatus,
  StreamMessage,
  isExhausted,
  isFailedAttemptState,
  isFinalRunStatus,
  isInBackoff,
  isOpenAttemptState,
  isOverdue,
  isRetrying,
  machineGraph,
} from '../src/index.ts';
import { T0, baseConfig } from './drive.ts';

describe('status vocabulary', () => {
  it('final run statuses', () => {
    expect(['succeeded', 'failed', 'cancelled'].every(isFinalRunStatus)).toBe(true);
    expect(isFinalRunStatus('running')).toBe(false);
  });

  it('attempt state predicates partition the attempt states', () => {
    for (const s of ATTEMPT_STATES) {
      const kinds = [isOpenAttemptState(s), isFailedAttemptState(s), s === 'CallbackSuccess' || s === 'Cancelled'];
      expect(kinds.filter(Boolean), s).toHaveLength(1);
    }
  });

  it('resting and final states are states of the machine', () => {
    const ids = machineGraph().nodes.map((n) => n.id);
    for (const s of [...RESTING_STATES, ...FINAL_STATES]) expect(ids).toContain(s);
  });

  it('the schemas accept exactly the vocabulary', () => {
    for (const s of ATTEMPT_STATES) expect(Value.Check(AttemptState, s)).toBe(true);
    expect(Value.Check(AttemptState, 'Running')).toBe(false);
    expect(Value.Check(RunStatus, 'running')).toBe(true);
    expect(Value.Check(RunStatus, 'idle')).toBe(false);
  });

  const base = { status: 'running', state: 'awaitingCallback', attempt: 1, maxAttempts: 3, nextDueAt: '2025-01-01T00:00:10.000Z' };
  const at10 = Date.parse('2025-01-01T00:00:10.000Z');

  it('derived predicates', () => {
    expect(isRetrying(base)).toBe(false);
    expect(isRetrying({ ...base, attempt: 2 })).toBe(true);
    expect(isRetrying({ ...base, attempt: 2, status: 'succeeded' })).toBe(false);
    expect(isInBackoff({ ...base, state: 'retrying' })).toBe(true);
    expect(isInBackoff(base)).toBe(false);
    expect(isOverdue(base, at10 + OVERDUE_GRACE_MS)).toBe(false);
    expect(isOverdue(base, at10 + OVERDUE_GRACE_MS + 1)).toBe(true);
    expect(isOverdue({ ...base, status: 'failed' }, at10 + 10 * OVERDUE_GRACE_MS)).toBe(false);
    expect(isOverdue({ ...base, nextDueAt: null }, at10 + 10 * OVERDUE_GRACE_MS)).toBe(false);
    expect(isExhausted({ ...base, status: 'failed', attempt: 3 })).toBe(true);
    expect(isExhausted({ ...base, status: 'failed', attempt: 3, exhausted: false })).toBe(false);
    expect(isExhausted({ ...base, status: 'failed', attempt: 1 })).toBe(false);
    expect(Object.keys(DERIVED_PREDICATES).sort()).toEqual([...DERIVED_FILTERS].sort());
  });
});

describe('wire schemas', () => {
  it('CallbackBody: an object or the seed’s bare boolean', () => {
    for (const ok of [true, false, { success: true }, { success: false, retryable: false, message: 'x', output: { a: 1 } }])
      expect(Value.Check(CallbackBody, ok), JSON.stringify(ok)).toBe(true);
    for (const bad of [{}, { success: 'yes' }, { success: true, extra: 1 }, 'true', null])
      expect(Value.Check(CallbackBody, bad), JSON.stringify(bad)).toBe(false);
  });

  it('StreamMessage and ErrorBody', () => {
    expect(Value.Check(StreamMessage, { type: 'ping', at: '2025-01-01T00:00:00.000Z' })).toBe(true);
    expect(Value.Check(StreamMessage, { type: 'ping', at: 'yesterday' })).toBe(false);
    expect(Value.Check(StreamMessage, { type: 'nope' })).toBe(false);
    expect(Value.Check(ErrorBody, { error: { code: 'TETHER_RUN_NOT_FOUND', message: 'run_x not found' } })).toBe(true);
    expect(Value.Check(ErrorBody, { error: { code: 'X' } })).toBe(false);
    const fields = [
      { path: 'backoff.maxSeconds', message: 'must be >= 1' },
      { path: 'target.headers.X-Foo', message: 'is not a valid header name' },
    ];
    expect(Value.Check(ErrorBody, { error: { code: 'TETHER_VALIDATION', message: 'backoff.maxSeconds must be >= 1', fields } })).toBe(true);
    expect(Value.Check(ErrorBody, { error: { code: 'TETHER_VALIDATION', message: 'x', fields: [{ field: 'x', message: 'y' }] } })).toBe(false);
  });

  it('run.updated carries the run and its list line', () => {
    const [snapshot] = transition(
      runMachine,
      initialTransition(runMachine, { runId: 'run_wire', at: T0, config: resolveRunConfig(baseConfig()) })[0],
      { type: 'run.start', at: T0 },
    );
    const run = toRun(snapshot);
    const summary = toRunSummary(snapshot);
    expect(Value.Errors(StreamMessage, { type: 'run.updated', run, summary })).toEqual([]);
    // Without its summary, or with one that is not a RunSummary, it is not a StreamMessage.
    expect(Value.Check(StreamMessage, { type: 'run.updated', run })).toBe(false);
    expect(Value.Check(StreamMessage, { type: 'run.updated', run, summary: { ...summary, status: 'idle' } })).toBe(false);
  });

  it('machineGraph() is a MachineGraph', () => {
    expect(Value.Errors(MachineGraph, machineGraph())).toEqual([]);
  });
});
