/** Time-sortable, prefixed ids: they read well in logs, URLs and test selectors, and sort by creation. */
import { randomBytes } from 'node:crypto';

/** `run_` + base36 ms (9 chars) + 8 random base32 chars. */
export function newRunId(now: number): string {
  const rand = randomBytes(5).readUIntBE(0, 5).toString(32).padStart(8, '0');
  return `run_${now.toString(36).padStart(9, '0')}${rand}`;
}
