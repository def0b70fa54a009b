import { expect } from 'vitest';
import { replayRun } from '../../src/engine/replay.ts';
import type { Engine } from '../../src/engine/engine.ts';
import type { RunDoc } from '../../src/store/types.ts';

/** Replaying a run's input and log reproduces its stored snapshot exactly. */
export function expectReplayEqualsSnapshot(doc: RunDoc): void {
  expect(replayRun(doc), `replay of ${doc.id}`).toEqual(JSON.parse(JSON.stringify(doc.snapshot)));
}

/** …for every run the engine knows, final ones included (read back from the store). */
export async function expectEveryRunReplays(engine: Engine): Promise<number> {
  const summaries = engine.allSummaries();
  for (const s of summaries) {
    const doc = await engine.getDoc(s.id);
    expect(doc, `doc of ${s.id}`).not.toBeNull();
    expectReplayEqualsSnapshot(doc!);
  }
  return summaries.length;
}

/** Seq numbers are 0..n-1 in order: nothing lost, nothing written twice. */
export function expectContiguousLog(doc: RunDoc): void {
  expect(doc.events.map((e) => e.seq)).toEqual(doc.events.map((_, i) => i));
}
