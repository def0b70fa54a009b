import { describe, expect, it } from 'vitest';
import { machineGraph } from '../src/index.ts';

const graph = machineGraph();
const edge = (source: string, kind: string, label: string, target: string) =>
  graph.edges.filter((e) => e.source === source && e.kind === kind && e.label === label && e.target === target);

describe('machineGraph', () => {
  it('has every state id the issue requires, once each', () => {
    const ids = graph.nodes.map((n) => n.id);
    for (const id of ['idle', 'triggering', 'awaitingCallback', 'succeeded', 'timedOut', 'errored', 'retrying', 'failed', 'cancelled'])
      expect(ids).toContain(id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(graph.id).toBe('run');
  });

  it('describes nesting, finals, the initial states and transient states', () => {
    const node = (id: string) => graph.nodes.find((n) => n.id === id)!;
    expect(node('triggering')).toMatchObject({ parent: 'attempt', path: 'attempt.triggering', initial: true, type: 'atomic' });
    expect(node('awaitingCallback')).toMatchObject({ parent: 'attempt', initial: false });
    expect(node('attempt')).toMatchObject({ parent: null, type: 'compound' });
    expect(node('idle')).toMatchObject({ initial: true, parent: null });
    expect(
      graph.nodes
        .filter((n) => n.type === 'final')
        .map((n) => n.id)
        .sort(),
    ).toEqual(['cancelled', 'failed', 'succeeded']);
    expect(
      graph.nodes
        .filter((n) => n.transient)
        .map((n) => n.id)
        .sort(),
    ).toEqual(['errored', 'timedOut']);
  });

  it('draws after edges with their delay names and guards', () => {
    expect(edge('triggering', 'after', 'attemptTimeout', 'timedOut')).toHaveLength(1);
    expect(edge('awaitingCallback', 'after', 'attemptTimeout', 'timedOut')[0]?.guard).toBe('attemptTimerDue');
    expect(edge('retrying', 'after', 'retryBackoff', 'attempt')[0]?.guard).toBe('retryTimerDue');
    expect(edge('retrying', 'after', 'retryBackoff', 'failed')).toHaveLength(1);
  });

  it('draws always edges from the transient states', () => {
    for (const from of ['timedOut', 'errored']) {
      expect(edge(from, 'always', '', 'retrying')[0]?.guard).toBe('canRetry');
      expect(edge(from, 'always', '', 'failed')[0]?.guard).toBeNull();
    }
  });

  it('draws the event edges', () => {
    expect(edge('idle', 'on', 'run.start', 'attempt')).toHaveLength(1);
    expect(edge('triggering', 'on', 'trigger.succeeded', 'awaitingCallback')).toHaveLength(1);
    expect(edge('triggering', 'on', 'trigger.failed', 'errored')).toHaveLength(1);
    expect(edge('attempt', 'on', 'callback.received', 'succeeded')[0]?.guard).toBe('isCurrentSuccess');
    expect(edge('attempt', 'on', 'callback.received', 'errored')[0]?.guard).toBe('isCurrentFailure');
    expect(edge('attempt', 'on', 'attempt.forceTimeout', 'timedOut')).toHaveLength(1);
    expect(edge('retrying', 'on', 'run.retryNow', 'attempt')).toHaveLength(1);
    // A self-transition (heartbeat re-arming the timer) points back at its source.
    expect(edge('awaitingCallback', 'on', 'heartbeat.received', 'awaitingCallback')).toHaveLength(1);
  });

  it('draws run.cancel from each resting non-final top-level state only (not final, not transient)', () => {
    const sources = graph.edges
      .filter((e) => e.label === 'run.cancel')
      .map((e) => e.source)
      .sort();
    expect(sources).toEqual(['attempt', 'idle', 'retrying']);
    expect(graph.edges.filter((e) => e.label === 'run.cancel').every((e) => e.target === 'cancelled')).toBe(true);
  });

  it('has unique edge ids and edges only between known nodes', () => {
    const ids = new Set(graph.nodes.map((n) => n.id));
    expect(new Set(graph.edges.map((e) => e.id)).size).toBe(graph.edges.length);
    for (const e of graph.edges) {
      expect(ids.has(e.source), e.id).toBe(true);
      expect(ids.has(e.target), e.id).toBe(true);
    }
  });

  it('is stable across calls (the dashboard keys on it)', () => {
    expect(machineGraph()).toEqual(graph);
  });
});
