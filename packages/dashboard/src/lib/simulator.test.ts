import { describe, expect, it } from 'vitest';
import { isSimulatorTarget, simulateErrors } from './simulator.ts';

describe('isSimulatorTarget', () => {
  it.each([
    ['http://127.0.0.1:3000/simulator/jobs', true],
    ['http://localhost:5173/simulator/jobs/', true],
    ['https://tether.example.com/simulator/jobs', true],
    ['https://jobs.example.com/export', false],
    ['https://jobs.example.com/simulator/jobs/extra', false],
    ['not a url', false],
  ])('%s → %s', (url, yes) => expect(isSimulatorTarget(url)).toBe(yes));
});

describe('simulateErrors', () => {
  const sim = 'http://127.0.0.1:3000/simulator/jobs';
  const outcomes = '"success", "failure", "never", "triggerError", "late", "duplicate", "early"';

  it('names an unknown outcome by its field, with the outcomes there are', () => {
    expect(simulateErrors(sim, { simulate: { outcome: 'sucess' } })).toEqual([
      { field: 'payload.simulate.outcome', message: `must be one of ${outcomes}` },
    ]);
    expect(simulateErrors(sim, { simulate: { perAttempt: ['never', 'sucess'] } })).toEqual([
      { field: 'payload.simulate.perAttempt.1', message: `must be one of ${outcomes}` },
    ]);
  });

  it('refuses a simulate that is not an object, and knobs of the wrong type', () => {
    expect(simulateErrors(sim, { simulate: 'success' })).toEqual([{ field: 'payload.simulate', message: 'must be object' }]);
    expect(simulateErrors(sim, { simulate: { delaySeconds: 'soon', retryable: 'no' } }).map((e) => e.field)).toEqual([
      'payload.simulate.delaySeconds',
      'payload.simulate.retryable',
    ]);
  });

  it('accepts the presets’ specs, no simulate at all, and any simulate of a run aimed elsewhere', () => {
    expect(simulateErrors(sim, { simulate: { perAttempt: ['never', 'success'], delaySeconds: 2 } })).toEqual([]);
    expect(simulateErrors(sim, { customer: 'acme' })).toEqual([]);
    expect(simulateErrors(sim, undefined)).toEqual([]);
    expect(simulateErrors('https://jobs.example.com/export', { simulate: { outcome: 'sucess' } })).toEqual([]);
  });
});
