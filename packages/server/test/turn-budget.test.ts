/**
 * The turn budget: one step's CPU part at a time; once a turn has spent its budget the next steps wait for a later
 * turn, in arrival order. Time is an injected counter, so "spending" is explicit.
 */
import { describe, expect, it } from 'vitest';
import { TurnBudget } from '../src/engine/turn-budget.ts';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe('TurnBudget', () => {
  it('grants at once while the turn has budget, one holder at a time, in arrival order', async () => {
    let now = 0;
    const b = new TurnBudget(4, () => now);
    const order: string[] = [];
    const step = async (name: string, cost: number) => {
      const release = await b.acquire();
      order.push(`${name}+`);
      now += cost;
      order.push(`${name}-`);
      release();
    };
    await Promise.all([step('a', 1), step('b', 1), step('c', 1)]);
    expect(order).toEqual(['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  });

  it('once a turn spent its budget, the rest run in a later turn (and I/O gets in between)', async () => {
    let now = 0;
    const b = new TurnBudget(4, () => now);
    const turnOf: Record<string, number> = {};
    let turn = 0;
    const ticking = (async () => {
      for (let i = 0; i < 10; i++) {
        await nextTurn();
        turn++;
      }
    })();
    const step = async (name: string) => {
      const release = await b.acquire();
      turnOf[name] = turn;
      now += 3; // each step costs 3 ms: two fit in a 4 ms turn (the second starts at 3 < 4)
      release();
    };
    await Promise.all(['s1', 's2', 's3', 's4', 's5'].map(step));
    await ticking;
    expect(turnOf.s1).toBe(turnOf.s2);
    expect(turnOf.s3).toBeGreaterThan(turnOf.s2!);
    expect(turnOf.s3).toBe(turnOf.s4);
    expect(turnOf.s5).toBeGreaterThan(turnOf.s4!);
  });

  it('a release called twice hands the token on once; a waiter is never skipped', async () => {
    const now = 0;
    const b = new TurnBudget(4, () => now);
    const first = await b.acquire();
    const got: number[] = [];
    const w1 = b.acquire().then((r) => (got.push(1), r));
    const w2 = b.acquire().then((r) => (got.push(2), r));
    expect(b.waiting).toBe(2);
    first();
    first();
    const r1 = await w1;
    await Promise.resolve();
    expect(got).toEqual([1]);
    r1();
    (await w2)();
    expect(got).toEqual([1, 2]);
    expect(b.waiting).toBe(0);
  });
});
