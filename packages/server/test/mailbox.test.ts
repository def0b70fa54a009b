import { describe, expect, it } from 'vitest';
import { Mailboxes } from '../src/engine/mailbox.ts';
import { deferred, prng, turns } from './helpers/async.ts';

describe('Mailboxes: one at a time per run, runs in parallel', () => {
  it('applies 100 concurrent tasks to one run in arrival order, exactly once, never overlapping', async () => {
    const boxes = new Mailboxes();
    const rand = prng(7);
    const applied: number[] = [];
    let running = 0;
    let maxRunning = 0;
    // Each task yields a random number of times: without the mailbox, later tasks would overtake earlier ones.
    const tasks = Array.from({ length: 100 }, (_, i) =>
      boxes.run('run_a', async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const yields = Math.floor(rand() * 5);
        for (let y = 0; y < yields; y++) await new Promise<void>((r) => setImmediate(r));
        applied.push(i);
        running--;
        return i * 2;
      }),
    );
    const results = await Promise.all(tasks);
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
    expect(applied).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(maxRunning).toBe(1);
    await boxes.drain();
    expect(boxes.pending).toBe(0);
  });

  it('runs different runs in parallel: one run blocked does not hold up another', async () => {
    const boxes = new Mailboxes();
    const gate = deferred();
    const order: string[] = [];
    const a = boxes.run('run_a', async () => {
      order.push('a:start');
      await gate.promise;
      order.push('a:end');
    });
    const a2 = boxes.run('run_a', async () => {
      order.push('a2');
    });
    const b = boxes.run('run_b', async () => {
      order.push('b');
      return 'b done';
    });
    expect(await b).toBe('b done');
    await turns();
    // run_b finished while run_a is still blocked, and run_a's second task still waits its turn.
    expect(order).toEqual(['a:start', 'b']);
    expect(boxes.pending).toBe(1);
    gate.resolve();
    await Promise.all([a, a2]);
    expect(order).toEqual(['a:start', 'b', 'a:end', 'a2']);
  });

  it('a throwing task rejects only its own caller; the queue goes on in order', async () => {
    const boxes = new Mailboxes();
    const seen: number[] = [];
    const p1 = boxes.run('run_a', async () => {
      seen.push(1);
    });
    const p2 = boxes.run('run_a', async () => {
      seen.push(2);
      throw new Error('boom');
    });
    const p3 = boxes.run('run_a', () => {
      seen.push(3);
      throw new Error('sync boom'); // not even async
    });
    const p4 = boxes.run('run_a', async () => {
      seen.push(4);
      return 'four';
    });
    await expect(p1).resolves.toBeUndefined();
    await expect(p2).rejects.toThrow('boom');
    await expect(p3).rejects.toThrow('sync boom');
    await expect(p4).resolves.toBe('four');
    expect(seen).toEqual([1, 2, 3, 4]);
    await boxes.drain();
    expect(boxes.pending).toBe(0);
  });

  it('drain() waits for tasks queued while draining', async () => {
    const boxes = new Mailboxes();
    const done: string[] = [];
    void boxes.run('run_a', async () => {
      await turns(2);
      done.push('a');
      void boxes.run('run_b', async () => {
        await turns(2);
        done.push('b');
      });
    });
    await boxes.drain();
    expect(done).toEqual(['a', 'b']);
    expect(boxes.pending).toBe(0);
  });
});
