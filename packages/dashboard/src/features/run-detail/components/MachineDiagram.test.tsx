import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { machineGraph } from '@tether/machine';
import { allFixtures, fixtures } from '../../../test/fixtures.ts';
import { activeStateIds, nextSteps, snapshotFromRun } from '../../../lib/run-snapshot.ts';
import { MachineDiagram } from './MachineDiagram.tsx';
import { NextStepsPanel } from './NextStepsPanel.tsx';

const graph = machineGraph();
const nodes = (container: HTMLElement) => [...container.querySelectorAll<HTMLElement>('[data-state-id]')];
const activeOf = (container: HTMLElement) =>
  nodes(container)
    .filter((n) => n.dataset.active === 'true')
    .map((n) => n.dataset.stateId)
    .sort();

describe('MachineDiagram', () => {
  it('draws every state of the shared machine once, each with data-state-id and data-active', () => {
    const { container } = render(<MachineDiagram activeState="idle" />);
    const ids = nodes(container).map((n) => n.dataset.stateId);
    expect(ids.sort()).toEqual(graph.nodes.map((n) => n.id).sort());
    for (const n of nodes(container)) expect(['true', 'false']).toContain(n.dataset.active);
  });

  it.each(allFixtures.map((f) => [f.name, f] as const))('marks the current state of %s, and only it with its ancestors', (_name, f) => {
    const { container } = render(<MachineDiagram activeState={f.run.state} />);
    expect(activeOf(container)).toEqual(activeStateIds(f.run.state).sort());
    const current = container.querySelector<HTMLElement>('[aria-current="step"]');
    expect(current?.dataset.stateId).toBe(f.run.state);
  });

  it('nests the attempt sub-states inside the attempt state and marks both active while waiting', () => {
    const { container } = render(<MachineDiagram activeState={fixtures.waiting.run.state} />);
    const attempt = container.querySelector<HTMLElement>('[data-state-id="attempt"]')!;
    const waiting = attempt.querySelector<HTMLElement>('[data-state-id="awaitingCallback"]')!;
    expect(waiting).toBeTruthy();
    expect(attempt.dataset.active).toBe('true');
    expect(waiting.dataset.active).toBe('true');
    expect(attempt.querySelector<HTMLElement>('[data-state-id="triggering"]')!.dataset.active).toBe('false');
  });

  it('lights the transitions the hydrated run accepts now', () => {
    const { run, now } = fixtures.backoff;
    const accepted = new Set(nextSteps(snapshotFromRun(run), now).steps.filter((s) => s.accepted).map((s) => s.eventType));
    const { container } = render(<MachineDiagram activeState={run.state} acceptedEvents={accepted} />);
    const retrying = container.querySelector<HTMLElement>('[data-state-id="retrying"]')!;
    const live = [...retrying.querySelectorAll<HTMLElement>('[data-live="true"]')].map((e) => e.dataset.edgeEvent);
    expect(live).toContain('run.retryNow');
    expect(live).toContain('retryBackoff');
    // Nothing in a state the run is not in is lit.
    const idle = container.querySelector<HTMLElement>('[data-state-id="idle"]')!;
    expect(idle.querySelectorAll('[data-live="true"]')).toHaveLength(0);
  });
});

describe('NextStepsPanel (the run hydrated into the shared machine)', () => {
  it('while waiting: the timeout deadline and where it leads, and the callbacks it accepts', () => {
    const { run, now } = fixtures.waiting;
    render(<NextStepsPanel next={nextSteps(snapshotFromRun(run), now)} state={run.state} now={now} />);
    const panel = screen.getByLabelText('What can happen next');
    const timeout = panel.querySelector<HTMLElement>('[data-event-type^="xstate.after.attemptTimeout"]')!;
    expect(timeout.textContent).toContain('Attempt timeout fires');
    expect(timeout.textContent).toContain('timedOut');
    expect(timeout.textContent).toContain('retrying');
    expect(within(timeout).getByRole('timer').textContent).toBe('in 0:01');
    const accepted = [...panel.querySelectorAll<HTMLElement>('[data-accepted="true"]')].map((e) => e.dataset.eventType);
    expect(accepted).toEqual(expect.arrayContaining(['callback.received', 'heartbeat.received', 'attempt.forceTimeout', 'run.cancel']));
    expect(accepted).not.toContain('run.retryNow');
    expect(panel.textContent).toContain('run.retryNow'); // listed as not handled here
  });

  it('on the last attempt, a timeout leads to failed instead of another retry', () => {
    const { run, now } = fixtures.overdue; // retryLimit 1, on attempt 1 of 2
    const steps = nextSteps(snapshotFromRun({ ...run, config: { ...run.config, retryLimit: 0 }, maxAttempts: 1 }), now).steps;
    const timer = steps.find((s) => s.kind === 'timer')!;
    expect(timer.path).toEqual(['timedOut', 'failed']);
    const retrying = nextSteps(snapshotFromRun(run), now).steps.find((s) => s.kind === 'timer')!;
    expect(retrying.path).toEqual(['timedOut', 'retrying']);
  });

  it('in backoff: retry now starts attempt 3 and sends its trigger', () => {
    const { run, now } = fixtures.backoff;
    const retry = nextSteps(snapshotFromRun(run), now).steps.find((s) => s.eventType === 'run.retryNow')!;
    expect(retry.accepted).toBe(true);
    expect(retry.resultState).toBe('triggering');
    expect(retry.effects[0]).toBe('sends the trigger for attempt 3');
  });

  it('a final run accepts nothing and says how to go on', () => {
    const { run, now } = fixtures.seed;
    const next = nextSteps(snapshotFromRun(run), now);
    expect(next.final).toBe(true);
    render(<NextStepsPanel next={next} state={run.state} now={now} />);
    expect(screen.getByLabelText('What can happen next').textContent).toMatch(/final .*Rerun/s);
  });
});
