import { describe, expect, it } from 'vitest';
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { leafState, toRun } from '@tether/machine';
import { allFixtures, serverFixtures } from '../test/fixtures.ts';
import { RunHistoryInspector } from './inspect-run.ts';
import { replayRun } from './run-snapshot.ts';

/** The real inspector from @statelyai/inspect, with an adapter that keeps what it would send to the inspector window. */
function collecting() {
  const sent: StatelyInspectionEvent[] = [];
  const inspector = createInspector({ send: (e) => sent.push(JSON.parse(JSON.stringify(e)) as StatelyInspectionEvent) }, { autoStart: false });
  return { inspector, sent };
}

const cases = [...serverFixtures, ...allFixtures].map((f) => [f.name, f] as const);

describe('replaying a run into the Stately inspector', () => {
  it.each(cases)('%s: one session, the machine, then every applied event with the snapshot replay gives at that entry', (_n, f) => {
    const { inspector, sent } = collecting();
    new RunHistoryInspector(inspector, f.run).push(f.events);

    const applied = f.events.filter((e) => e.verdict === 'applied' && e.event !== undefined);
    expect(sent).toHaveLength(1 + 2 * applied.length);
    expect(new Set(sent.map((e) => e.sessionId))).toEqual(new Set([f.run.id]));

    const [actor, ...rest] = sent;
    if (actor?.type !== '@xstate.actor') throw new Error(`the session opens with ${actor?.type}`);
    expect(actor.name).toBe('run');
    // The machine's definition travels with the session, so the inspector can draw it.
    const definition = JSON.parse(actor.definition!) as { id: string; states: Record<string, { states?: Record<string, unknown> }> };
    expect(Object.keys(definition.states)).toEqual(expect.arrayContaining(['idle', 'attempt', 'retrying', 'succeeded', 'failed', 'cancelled']));
    expect(Object.keys(definition.states.attempt!.states!).sort()).toEqual(['awaitingCallback', 'triggering']);
    expect(actor.snapshot.value).toBe('idle');

    applied.forEach((entry, i) => {
      const ev = rest[2 * i]!;
      const snap = rest[2 * i + 1]!;
      expect(ev.type).toBe('@xstate.event');
      expect(snap.type).toBe('@xstate.snapshot');
      if (ev.type !== '@xstate.event' || snap.type !== '@xstate.snapshot') return;
      expect(ev.event).toEqual(entry.event);
      expect(snap.event).toEqual(entry.event);
      const expected = replayRun(f.run, f.events, entry.seq);
      const sentSnapshot = snap.snapshot as unknown as { value: unknown; context: unknown };
      expect(sentSnapshot.value).toEqual(expected.value);
      expect(sentSnapshot.context).toEqual(JSON.parse(JSON.stringify(expected.context)));
      if (entry.stateAfter !== undefined) expect(leafState(sentSnapshot.value as never)).toBe(entry.stateAfter);
    });
  });

  it.each(cases)('%s: the last snapshot sent is the run the server stored', (_n, f) => {
    const { inspector, sent } = collecting();
    new RunHistoryInspector(inspector, f.run).push(f.events);
    const last = sent[sent.length - 1]!;
    if (last.type !== '@xstate.snapshot' && last.type !== '@xstate.actor') throw new Error(`last is ${last.type}`);
    const snapshot = last.snapshot as unknown as { value: unknown; status: unknown; context: unknown };
    const run = toRun({ value: snapshot.value, status: snapshot.status, context: snapshot.context } as never, { rerunOf: f.run.rerunOf });
    const strip = (r: typeof f.run) => ({ ...r, attempts: r.attempts.map((a) => ({ ...a, callbackUrl: null, heartbeatUrl: null })) });
    expect(strip(run)).toEqual(strip(f.run));
  });

  it('sends only entries it has not sent yet, so a live page can keep pushing the log', () => {
    const f = allFixtures.find((x) => x.name === 'seed-timeout-then-success')!;
    const { inspector, sent } = collecting();
    const history = new RunHistoryInspector(inspector, f.run);
    const half = Math.ceil(f.events.length / 2);
    const first = history.push(f.events.slice(0, half));
    const second = history.push(f.events);
    expect(history.push(f.events)).toBe(0);
    expect(first + second).toBe(f.events.filter((e) => e.verdict === 'applied').length);
    expect(sent.filter((e) => e.type === '@xstate.event').map((e) => (e as { event: { type: string } }).event.type)).toEqual(
      f.events.filter((e) => e.verdict === 'applied').map((e) => e.type),
    );
  });
});
