import { describe, expect, it } from 'vitest';
import { allFixtures, fixtures, serverFixtures } from '../../../test/fixtures.ts';
import { applyFilters, derivedCounts, parseFilters } from './runFilters.ts';

const summaries = allFixtures.map((f) => f.summary);
/** The overdue fixture's instant: its 60 s timeout passed 20 s ago, and so did the live fixture's. */
const NOW = fixtures.overdue.now;

describe('derived filters (shared predicates from @tether/machine)', () => {
  it('counts each derived state over the fixtures', () => {
    expect(derivedCounts(summaries, '', NOW)).toEqual({ retrying: 2, inBackoff: 1, overdue: 2, exhausted: 1 });
  });

  it.each([
    ['retrying', ['run_02live', 'run_03backoff']],
    ['inBackoff', ['run_03backoff']],
    ['overdue', ['run_02live', 'run_05overdue']],
    ['exhausted', ['run_04exhausted']],
  ] as const)('%s selects exactly its runs', (derived, ids) => {
    const shown = applyFilters(summaries, { status: null, name: '', derived }, NOW);
    expect(shown.map((r) => r.id).sort()).toEqual([...ids].sort());
  });

  it('a run failed by a non-retryable callback is failed but not exhausted', () => {
    const shown = applyFilters(summaries, { status: 'failed', name: '', derived: null }, NOW).map((r) => r.id);
    expect(shown.sort()).toEqual(['run_04exhausted', 'run_06fatal']);
    expect(applyFilters(summaries, { status: 'failed', name: '', derived: 'exhausted' }, NOW).map((r) => r.id)).toEqual(['run_04exhausted']);
  });

  it('a waiting run is not overdue until its deadline plus the grace period has passed', () => {
    const { summary, now } = fixtures.waiting;
    expect(applyFilters([summary], { status: null, name: '', derived: 'overdue' }, now)).toHaveLength(0);
  });

  it('combines with the name filter, and counts follow it', () => {
    expect(applyFilters(summaries, { status: null, name: 'export', derived: 'overdue' }, NOW).map((r) => r.id)).toEqual(['run_02live']);
    expect(derivedCounts(summaries, 'export', NOW)).toEqual({ retrying: 1, inBackoff: 0, overdue: 1, exhausted: 0 });
  });

  it('reads filters from the URL and ignores values it does not know', () => {
    expect(parseFilters(new URLSearchParams('status=failed&name=x&derived=exhausted'))).toEqual({
      status: 'failed',
      name: 'x',
      derived: 'exhausted',
    });
    expect(parseFilters(new URLSearchParams('status=bogus&derived=stuck'))).toEqual({ status: null, name: '', derived: null });
  });
});

describe('exhaustion comes from the wire, not from attempt counts', () => {
  it('recorded runs failed for each reason: only the exhausted one is under Exhausted', () => {
    const byReason = new Map(serverFixtures.filter((f) => f.run.status === 'failed').map((f) => [f.run.failureReason, f.summary] as const));
    expect([...byReason.keys()].sort()).toEqual(['deadline', 'exhausted', 'notRetryable']);
    for (const [reason, summary] of byReason) {
      expect(summary.exhausted, String(reason)).toBe(reason === 'exhausted');
      expect(applyFilters([summary], { status: null, name: '', derived: 'exhausted' }, NOW).length, String(reason)).toBe(
        reason === 'exhausted' ? 1 : 0,
      );
    }
  });

  it('an exhausted flag of false counts, even where the attempt count would say otherwise', () => {
    const summary = fixtures.exhausted.summary;
    expect(applyFilters([{ ...summary, exhausted: false }], { status: null, name: '', derived: 'exhausted' }, NOW)).toEqual([]);
  });
});
