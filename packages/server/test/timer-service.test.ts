import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TimerService, type TimerEntry } from '../src/engine/timer-service.ts';
import { CountingClock } from './helpers/counting-clock.ts';

interface Fired extends TimerEntry {
  firedAt: number;
}

function service(clock = new CountingClock()) {
  const fired: Fired[] = [];
  const timers = new TimerService(clock, (entry, firedAt) => fired.push({ ...entry, firedAt }));
  const arm = (runId: string, key: string, dueAt: number) => timers.arm({ runId, key, dueAt, eventType: `ev.${key}` });
  return { clock, timers, fired, arm };
}

describe('TimerService: one min-heap, one setTimeout', () => {
  it('fires many random timers exactly once, in due order, each stamped at its due time, with one setTimeout armed at most', () => {
    type Cmd = { op: 'arm'; run: number; key: number; offset: number } | { op: 'disarm'; run: number; key: number } | { op: 'advance'; ms: number };
    const cmd = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({ op: fc.constant('arm' as const), run: fc.nat(30), key: fc.nat(2), offset: fc.integer({ min: -5_000, max: 120_000 }) }),
      },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('disarm' as const), run: fc.nat(30), key: fc.nat(2) }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.nat(40_000) }) },
    );
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 300 }), (cmds: Cmd[]) => {
        const { clock, timers, fired, arm } = service();
        // Reference model: what is armed, and when each firing must happen.
        const live = new Map<string, { runId: string; key: string; dueAt: number; armedAt: number }>();
        const expected: Fired[] = [];
        const fireModelUpTo = (end: number) => {
          for (const [id, t] of [...live]) {
            const at = Math.max(t.dueAt, t.armedAt);
            if (at <= end) {
              expected.push({ runId: t.runId, key: t.key, dueAt: t.dueAt, eventType: `ev.${t.key}`, firedAt: at });
              live.delete(id);
            }
          }
        };
        for (const c of cmds) {
          const runId = `run_${c.op === 'advance' ? 0 : c.run}`;
          if (c.op === 'arm') {
            const key = `k${c.key}`;
            const dueAt = clock.now() + c.offset;
            arm(runId, key, dueAt);
            live.set(`${runId}/${key}`, { runId, key, dueAt, armedAt: clock.now() });
          } else if (c.op === 'disarm') {
            timers.disarm(runId, `k${c.key}`);
            live.delete(`${runId}/k${c.key}`);
          } else {
            clock.advance(c.ms);
            fireModelUpTo(clock.now());
          }
          expect(timers.size).toBe(live.size);
          expect(clock.armedCount).toBeLessThanOrEqual(1);
        }
        clock.advance(1_000_000);
        fireModelUpTo(clock.now());

        // In order as fired: by firing instant, and by due time within one instant.
        for (let i = 1; i < fired.length; i++) {
          const a = fired[i - 1]!;
          const b = fired[i]!;
          expect(b.firedAt > a.firedAt || (b.firedAt === a.firedAt && b.dueAt >= a.dueAt)).toBe(true);
        }
        for (const f of fired) expect(f.firedAt).toBeGreaterThanOrEqual(f.dueAt);
        const order = (x: Fired, y: Fired) =>
          x.firedAt - y.firedAt || x.dueAt - y.dueAt || x.runId.localeCompare(y.runId) || x.key.localeCompare(y.key);
        expect([...fired].sort(order)).toEqual([...expected].sort(order));
        expect(clock.maxArmed).toBeLessThanOrEqual(1);
        expect(clock.armedCount).toBe(0);
        expect(timers.size).toBe(0);
      }),
      { numRuns: 150, seed: 20260101 },
    );
  });

  it('keeps one setTimeout for ten thousand timers, even when each new one is the earliest', () => {
    const { clock, timers, fired, arm } = service();
    const t0 = clock.now();
    for (let i = 10_000; i > 0; i--) arm(`run_${i}`, 'k', t0 + i);
    expect(clock.maxArmed).toBe(1);
    expect(clock.armedCount).toBe(1);
    expect(timers.size).toBe(10_000);
    expect(timers.peek()?.runId).toBe('run_1');
    clock.advance(10_000);
    expect(fired.map((f) => f.dueAt)).toEqual(Array.from({ length: 10_000 }, (_, i) => t0 + i + 1));
    expect(fired.every((f) => f.firedAt === f.dueAt)).toBe(true);
    expect(clock.maxArmed).toBe(1);
    expect(clock.armedCount).toBe(0);
  });

  it('does not fire a disarmed timer, and fires the others', () => {
    const { clock, timers, fired, arm } = service();
    const t0 = clock.now();
    arm('run_a', 'k', t0 + 100);
    arm('run_b', 'k', t0 + 200);
    timers.disarm('run_a', 'k');
    expect(timers.size).toBe(1);
    clock.advance(150);
    expect(fired).toEqual([]);
    clock.advance(50);
    expect(fired.map((f) => [f.runId, f.firedAt])).toEqual([['run_b', t0 + 200]]);
    clock.advance(10_000);
    expect(fired).toHaveLength(1);
  });

  it('re-arming a run key replaces the timer, whether the new due time is later or earlier', () => {
    const { clock, timers, fired, arm } = service();
    const t0 = clock.now();
    arm('run_a', 'k', t0 + 100);
    arm('run_a', 'k', t0 + 300); // later
    arm('run_b', 'k', t0 + 300);
    arm('run_b', 'k', t0 + 50); // earlier
    expect(timers.size).toBe(2);
    clock.advance(200);
    expect(fired.map((f) => [f.runId, f.firedAt])).toEqual([['run_b', t0 + 50]]);
    clock.advance(100_000);
    expect(fired.map((f) => [f.runId, f.firedAt])).toEqual([
      ['run_b', t0 + 50],
      ['run_a', t0 + 300],
    ]);
    // Different keys of one run are different timers.
    arm('run_c', 'x', clock.now() + 10);
    arm('run_c', 'y', clock.now() + 20);
    clock.advance(20);
    expect(fired.slice(2).map((f) => f.key)).toEqual(['x', 'y']);
  });

  it('fires overdue timers at once, in due order, stamped now (never before their due time)', () => {
    const { clock, fired, arm } = service();
    const now = clock.now();
    const offsets = [-500, -100, -300, -200, -400, -1];
    offsets.forEach((o, i) => arm(`run_${i}`, 'k', now + o));
    arm('run_future', 'k', now + 1000);
    expect(clock.armedCount).toBe(1);
    clock.advance(0);
    expect(fired.map((f) => f.dueAt - now)).toEqual([-500, -400, -300, -200, -100, -1]);
    expect(fired.every((f) => f.firedAt === now)).toBe(true);
    expect(clock.armedCount).toBe(1); // re-armed for run_future
    clock.advance(1000);
    expect(fired.at(-1)).toMatchObject({ runId: 'run_future', firedAt: now + 1000 });
  });

  it('a host timer that fires early fires nothing and re-arms: no timer is ever stamped before its due time', () => {
    const { clock, fired, arm } = service();
    const t0 = clock.now();
    arm('run_a', 'k', t0 + 100);
    clock.advance(99);
    clock.fireEarly();
    expect(fired).toEqual([]);
    expect(clock.armedCount).toBe(1);
    clock.advance(1);
    expect(fired).toEqual([expect.objectContaining({ runId: 'run_a', dueAt: t0 + 100, firedAt: t0 + 100 })]);
  });

  it('waits longer than setTimeout can (2^31-1 ms) by waking up and re-checking', () => {
    const { clock, fired, arm } = service();
    const t0 = clock.now();
    const due = t0 + 40 * 24 * 3600 * 1000; // 40 days
    arm('run_a', 'k', due);
    clock.advance(2 ** 31 - 1);
    expect(fired).toEqual([]);
    expect(clock.armedCount).toBe(1);
    clock.advance(due - clock.now() - 1);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([expect.objectContaining({ firedAt: due })]);
  });

  it('sync() makes a run’s armed timers exactly the committed ones', () => {
    const { clock, timers, fired } = service();
    const t0 = clock.now();
    const e = (key: string, dueAt: number): TimerEntry => ({ runId: 'run_a', key, dueAt, eventType: `ev.${key}` });
    timers.sync('run_a', [], [e('a', t0 + 10), e('b', t0 + 20)]);
    expect(timers.size).toBe(2);
    // b moves, a is cancelled, c is new.
    timers.sync('run_a', [e('a', t0 + 10), e('b', t0 + 20)], [e('b', t0 + 40), e('c', t0 + 30)]);
    expect(timers.size).toBe(2);
    clock.advance(100);
    expect(fired.map((f) => [f.key, f.firedAt - t0])).toEqual([
      ['c', 30],
      ['b', 40],
    ]);
  });

  it('stop() clears the one setTimeout and nothing fires afterwards', () => {
    const { clock, timers, fired, arm } = service();
    arm('run_a', 'k', clock.now() + 10);
    timers.stop();
    expect(clock.armedCount).toBe(0);
    arm('run_b', 'k', clock.now() + 5);
    clock.advance(1000);
    expect(fired).toEqual([]);
    expect(clock.armedCount).toBe(0);
  });

  it('a heartbeat stream that moves one timer 100k times keeps the heap bounded, and the timer still fires once, at its last due time', () => {
    const { clock, timers, fired, arm } = service();
    const t0 = clock.now();
    arm('run_other', 'k', t0 + 10_000_000); // a second live timer, far away
    for (let i = 1; i <= 100_000; i++) arm('run_a', 'hb', t0 + 1_000 + i); // each beat moves the deadline later
    expect(timers.size).toBe(2);
    // Dead items are swept once they dominate: the heap stays within a constant of the live count.
    expect(timers.heapSize).toBeLessThanOrEqual(2 * 2 + 1024 + 1);
    clock.advance(1_000 + 100_000);
    expect(fired.map((f) => [f.runId, f.dueAt - t0])).toEqual([['run_a', 101_000]]);
    expect(timers.size).toBe(1);
  });

  it('a dispatch that throws is logged and does not stop the other due timers, or later ones', () => {
    const clock = new CountingClock();
    const errors: object[] = [];
    const fired: string[] = [];
    const timers = new TimerService(
      clock,
      (e) => {
        if (e.runId === 'run_bad') throw new Error('boom');
        fired.push(e.runId);
      },
      { logger: { error: (obj) => errors.push(obj) } },
    );
    const t0 = clock.now();
    for (const [runId, at] of [
      ['run_a', 10],
      ['run_bad', 10],
      ['run_b', 10],
      ['run_c', 50],
    ] as const)
      timers.arm({ runId, key: 'k', dueAt: t0 + at, eventType: 'ev' });
    clock.advance(10);
    expect(fired).toEqual(['run_a', 'run_b']);
    expect(errors).toEqual([expect.objectContaining({ runId: 'run_bad', err: 'boom' })]);
    expect(clock.armedCount).toBe(1); // the next one is still scheduled
    clock.advance(40);
    expect(fired).toEqual(['run_a', 'run_b', 'run_c']);
  });

  it('paused: holds armed timers without a setTimeout until start(), then fires the overdue ones in due order', () => {
    const clock = new CountingClock();
    const fired: Array<[string, number]> = [];
    const timers = new TimerService(clock, (e, at) => fired.push([e.runId, at - e.dueAt]), { paused: true });
    const t0 = clock.now();
    timers.arm({ runId: 'run_b', key: 'k', dueAt: t0 + 20, eventType: 'ev' });
    timers.arm({ runId: 'run_a', key: 'k', dueAt: t0 + 10, eventType: 'ev' });
    expect(timers.size).toBe(2);
    expect(clock.armedCount).toBe(0);
    clock.advance(100);
    expect(fired).toEqual([]);
    timers.start();
    clock.advance(0);
    expect(fired).toEqual([
      ['run_a', 90],
      ['run_b', 80],
    ]);
  });
});
