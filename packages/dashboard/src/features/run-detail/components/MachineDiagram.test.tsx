import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { machineGraph } from '@tether/machine';
import { allFixtures, fixtures } from '../../../test/fixtures.ts';
import { activeStateIds, nextSteps, snapshotFromRun } from '../../../lib/run-snapshot.ts';
import { MachineDiagram } from './MachineDiagram.tsx';
import { layoutDiagram } from './diagramLayout.ts';
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

  it('draws every transition of the graph: an arrow between two states, a loop inside the state, or the shared stub', () => {
    const { container } = render(<MachineDiagram activeState="idle" />);
    const drawn = [...container.querySelectorAll<SVGElement>('[data-edge-event]')].map((el) => ({
      sources: el.dataset.edgeSource!.split(' '),
      target: el.dataset.edgeTarget!,
      events: el.dataset.edgeEvent!.split(' '),
    }));
    for (const e of graph.edges) {
      const event = e.kind === 'always' ? 'always' : e.label;
      expect(
        drawn.some((d) => d.sources.includes(e.source) && d.target === e.target && d.events.includes(event)),
        `${e.source} --${event}--> ${e.target}`,
      ).toBe(true);
    }
    // Arrows are real SVG paths with an arrowhead, except where one merges into another.
    const paths = [...container.querySelectorAll('g.dg-edge > path.dg-line')];
    expect(paths.length).toBeGreaterThanOrEqual(layoutDiagram(graph).arrows.length);
    expect(paths.every((p) => /^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)+$/.test(p.getAttribute('d')!))).toBe(true);
  });

  it('lists every transition as text for screen readers', () => {
    render(<MachineDiagram activeState="idle" />);
    const items = within(screen.getByRole('list', { name: 'Transitions' })).getAllByRole('listitem');
    expect(items).toHaveLength(graph.edges.length);
    expect(items.map((li) => li.textContent)).toContain('attempt: callback.received [isCurrentSuccess] → succeeded');
  });

  it('lights the transitions the hydrated run accepts now', () => {
    const { run, now } = fixtures.backoff;
    const accepted = nextSteps(snapshotFromRun(run), now).steps.filter((s) => s.accepted);
    const { container } = render(<MachineDiagram activeState={run.state} accepted={accepted} />);
    const liveFrom = (source: string) =>
      [...container.querySelectorAll<SVGElement>('[data-live="true"]')]
        .filter((e) => e.dataset.edgeSource!.split(' ').includes(source))
        .flatMap((e) => e.dataset.edgeEvent!.split(' '));
    expect(liveFrom('retrying')).toEqual(expect.arrayContaining(['run.retryNow', 'retryBackoff', 'run.cancel']));
    // Same events, but their guard sends the run to failed only past the deadline, which this run has not.
    expect(container.querySelector<SVGElement>('[data-edge-source="retrying"][data-edge-target="failed"]')!.dataset.live).toBe('false');
    expect(container.querySelector<SVGElement>('[data-edge-source="retrying"][data-edge-target="attempt"]')!.dataset.live).toBe('true');
    // Nothing leaving a state the run is not in is lit.
    expect(liveFrom('triggering')).toEqual([]);
    expect(liveFrom('awaitingCallback')).toEqual([]);
    expect(
      [...container.querySelectorAll('[data-live="true"]')].every((e) => e.getAttribute('data-edge-source')!.split(' ').includes('retrying')),
    ).toBe(true);
  });

  it('while waiting, lights the timeout, the callbacks and the heartbeat loop; a final run lights nothing', () => {
    const { run, now } = fixtures.waiting;
    const accepted = nextSteps(snapshotFromRun(run), now).steps.filter((s) => s.accepted);
    const { container, unmount } = render(<MachineDiagram activeState={run.state} accepted={accepted} />);
    const live = [...container.querySelectorAll<SVGElement>('[data-live="true"]')].map((e) => `${e.dataset.edgeSource}>${e.dataset.edgeTarget}`);
    expect(live).toEqual(
      expect.arrayContaining([
        'awaitingCallback>timedOut',
        'attempt>succeeded',
        'attempt>errored',
        'attempt>timedOut',
        'awaitingCallback>awaitingCallback',
      ]),
    );
    expect(live).not.toContain('triggering>awaitingCallback');
    expect(live).not.toContain('retrying>attempt');
    unmount();
    const done = fixtures.seed;
    const finalAccepted = nextSteps(snapshotFromRun(done.run), done.now).steps;
    expect(finalAccepted).toEqual([]);
    const final = render(<MachineDiagram activeState={done.run.state} accepted={finalAccepted} />);
    expect(final.container.querySelectorAll('[data-live="true"]')).toHaveLength(0);
  });

  it('still draws a state the fixed layout does not know, with its transitions', () => {
    const grown = {
      ...graph,
      nodes: [...graph.nodes, { id: 'paused', path: 'paused', parent: null, type: 'atomic' as const, initial: false, transient: false }],
      edges: [
        ...graph.edges,
        { id: 'retrying-on-run.pause-paused-99', source: 'retrying', target: 'paused', kind: 'on' as const, label: 'run.pause', guard: null },
      ],
    };
    const { container } = render(<MachineDiagram activeState="paused" graph={grown} />);
    expect(container.querySelector<SVGElement>('[data-state-id="paused"]')?.dataset.active).toBe('true');
    expect(container.querySelector('[data-edge-event="run.pause"] path')).toBeTruthy();
  });
});

describe('diagram layout (the fixed drawing of this machine)', () => {
  const layout = layoutDiagram(graph);
  type Rect = { x: number; y: number; w: number; h: number };
  const overlaps = (a: Rect, b: Rect) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  /** Labels are 10.5 px monospace: about 6.3 px a character, 13 px a line. */
  const labelRects = [...layout.arrows.map((a) => a.label), ...layout.shared.map((s) => s.label)]
    .filter((l) => l !== null)
    .map((l) => {
      const w = Math.max(...l.lines.map((t) => t.length)) * 6.3;
      const x = l.anchor === 'start' ? l.x : l.anchor === 'end' ? l.x - w : l.x - w / 2;
      return { text: l.lines.join(' / '), x, y: l.y - 9, w, h: 13 * l.lines.length - 1 };
    });
  const boxes = layout.nodes.filter((n) => n.node.type !== 'compound');

  it('places every state inside the drawing, children inside their parent, and no two states on each other', () => {
    for (const { node, box } of layout.nodes) {
      expect(box.x >= 0 && box.y >= 0 && box.x + box.w <= layout.width && box.y + box.h <= layout.height, node.id).toBe(true);
      if (node.parent) {
        const parent = layout.boxOf.get(node.parent)!;
        expect(box.x > parent.x && box.y > parent.y && box.x + box.w < parent.x + parent.w && box.y + box.h < parent.y + parent.h, node.id).toBe(
          true,
        );
      }
    }
    for (const a of boxes) for (const b of boxes) if (a !== b) expect(overlaps(a.box, b.box), `${a.node.id} / ${b.node.id}`).toBe(false);
  });

  it('starts and ends each arrow on the border of its states', () => {
    const onBorder = (pt: { x: number; y: number }, b: Rect) =>
      ((pt.x === b.x || pt.x === b.x + b.w) && pt.y >= b.y && pt.y <= b.y + b.h) ||
      ((pt.y === b.y || pt.y === b.y + b.h) && pt.x >= b.x && pt.x <= b.x + b.w);
    for (const a of layout.arrows) {
      expect(onBorder(a.points[0]!, layout.boxOf.get(a.source)!), `${a.key} start`).toBe(true);
      if (!a.joins) expect(onBorder(a.points[a.points.length - 1]!, layout.boxOf.get(a.target)!), `${a.key} end`).toBe(true);
    }
  });

  it('keeps edge labels inside the drawing, off the states and off each other', () => {
    for (const l of labelRects) {
      expect(l.x >= 0 && l.x + l.w <= layout.width, `${l.text} within width`).toBe(true);
      for (const { node, box } of boxes) expect(overlaps(l, box), `${l.text} on ${node.id}`).toBe(false);
    }
    for (const a of labelRects) for (const b of labelRects) if (a !== b) expect(overlaps(a, b), `${a.text} / ${b.text}`).toBe(false);
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
