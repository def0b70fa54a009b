/** A run's retry policy in words: "up to 4 attempts in all (3 retries), 1 s → 2 s → 4 s backoff, 30 s timeout each". */
import { resolveRunConfig, retryDelay } from '@tether/machine';
import type { RunConfig } from '@tether/machine/protocol';

/** Seconds in short words: `0.5 s`, `30 s`, `2 min`, `1 min 30 s`, `1 h 5 min`. */
export function formatSeconds(seconds: number): string {
  const s = Math.round(seconds * 1000) / 1000;
  if (s < 60) return `${Number(s.toFixed(2))} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const rest = Math.round(s - m * 60);
    return rest ? `${m} min ${rest} s` : `${m} min`;
  }
  const h = Math.floor(s / 3600);
  const m = Math.round((s - h * 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** Past this many retries the delays are shortened to the first few, `…`, and the last. */
const LISTED = 4;

/**
 * The delays come from the machine's own `retryDelay` (exponential, capped), without jitter: jitter is named instead,
 * as it only ever shortens a delay.
 */
export function describeRetryPolicy(config: RunConfig, seed = 'run'): string {
  const c = resolveRunConfig(config);
  const parts: string[] = [];
  if (c.retryLimit === 0) parts.push('no retries (1 attempt)');
  else {
    const noJitter = { ...c.backoff, jitter: 'none' as const };
    const delay = (n: number) => formatSeconds(retryDelay(noJitter, n, seed));
    const numbers = c.retryLimit <= LISTED ? Array.from({ length: c.retryLimit }, (_, i) => i + 1) : [1, 2, 3, null, c.retryLimit];
    const delays = numbers.map((n) => (n === null ? '…' : delay(n))).join(' → ');
    const jitter = c.backoff.jitter === 'none' ? '' : ` (${c.backoff.jitter} jitter)`;
    // Said as the total and the retries both, so neither number can be read as the other.
    const retries = `${c.retryLimit} ${c.retryLimit === 1 ? 'retry' : 'retries'}`;
    parts.push(`up to ${1 + c.retryLimit} attempts in all (${retries})`, `${delays} backoff${jitter}`);
  }
  parts.push(`${formatSeconds(c.timeoutSeconds)} timeout ${c.retryLimit === 0 ? '' : 'each'}`.trim());
  if (c.heartbeatTimeoutSeconds !== undefined) parts.push(`heartbeat timeout ${formatSeconds(c.heartbeatTimeoutSeconds)}`);
  if (c.deadlineSeconds !== undefined) parts.push(`deadline ${formatSeconds(c.deadlineSeconds)} after the start`);
  return parts.join(', ');
}
