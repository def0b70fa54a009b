/** How the bulk actions are said: the button, the dialog, the summary of a dry run and of the results. */
import type { BulkAction, BulkOutcome, BulkResult, BulkRunResult } from '@tether/machine/protocol';

export const BULK_WORDS: Record<BulkAction, { button: string; title: string; will: string; done: string; doing: string }> = {
  cancel: { button: 'Cancel', title: 'Cancel runs', will: 'will be cancelled', done: 'cancelled', doing: 'Cancelling' },
  'retry-now': { button: 'Retry now', title: 'Retry runs now', will: 'will be retried now', done: 'retried now', doing: 'Retrying' },
  rerun: { button: 'Rerun', title: 'Rerun runs', will: 'will be rerun as new runs', done: 'rerun', doing: 'Rerunning' },
};

export const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;

/** The results with that outcome, grouped by reason, most common first: `[{ reason: 'already final (succeeded)', count: 2 }]`. */
export function reasons(results: readonly BulkRunResult[], outcome: BulkOutcome): Array<{ reason: string; count: number }> {
  const counts = new Map<string, number>();
  for (const r of results) {
    if (r.outcome !== outcome) continue;
    const why = r.reason ?? r.code ?? 'no reason given';
    counts.set(why, (counts.get(why) ?? 0) + 1);
  }
  return [...counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count);
}

/** `2 skipped: already final (succeeded)`; with several reasons `3 skipped: 2 already final (succeeded), 1 not in backoff`. */
function part(results: readonly BulkRunResult[], outcome: BulkOutcome, n: number, word: string): string | null {
  if (n === 0) return null;
  const why = reasons(results, outcome);
  const detail = why.length === 1 ? why[0]!.reason : why.map((w) => `${w.count} ${w.reason}`).join(', ');
  return `${n.toLocaleString('en')} ${word}: ${detail}`;
}

/** `3 will be cancelled; 2 skipped: already final (succeeded)`: what a dry run says the action would do. */
export function describeDryRun(r: BulkResult): string {
  const will = `${r.counts.eligible.toLocaleString('en')} ${BULK_WORDS[r.action].will}`;
  return [will, part(r.results, 'skipped', r.counts.skipped, 'skipped'), part(r.results, 'failed', r.counts.failed, 'cannot be acted on')]
    .filter(Boolean)
    .join('; ');
}

/** `3 cancelled; 2 skipped: already final (succeeded)`: what the action did. */
export function describeResult(r: BulkResult): string {
  const done = `${r.counts.done.toLocaleString('en')} ${BULK_WORDS[r.action].done}`;
  return [done, part(r.results, 'skipped', r.counts.skipped, 'skipped'), part(r.results, 'failed', r.counts.failed, 'failed')]
    .filter(Boolean)
    .join('; ');
}

export function outcomeLabel(action: BulkAction, outcome: BulkOutcome): string {
  return outcome === 'done' ? BULK_WORDS[action].done : outcome;
}
