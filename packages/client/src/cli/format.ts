/** What the CLI prints for people (`--json` prints the wire shapes instead). Pure functions of a run and "now". */
import type { Run, RunEventEntry, RunSummary } from '@tether/machine/protocol';
import type { TetherError } from '../errors.ts';

/** `4:58`, `1:02:03`; negative durations are clamped to 0:00 (the caller says "overdue"). */
export function clock(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

const until = (label: string, iso: string | null | undefined, now: number): string | undefined => {
  if (!iso) return undefined;
  const ms = Date.parse(iso) - now;
  return ms >= 0 ? `${label} in ${clock(ms)}` : `${label} overdue by ${clock(-ms)}`;
};

/**
 * The live line of `runs watch`: "attempt 2/4 · awaitingCallback · timeout in 4:58 / deadline in 9:12". The timers
 * shown are the ones that can end the current wait: the attempt's timeout and heartbeat, the retry, the deadline.
 */
export function progressLine(run: Run, now: number): string {
  const parts = [`attempt ${run.attempt}/${run.maxAttempts}`, run.state];
  const current = run.attempts[run.attempts.length - 1];
  const timers: string[] = [];
  if (run.status === 'running') {
    if (run.state === 'retrying') {
      const retry = until('next attempt', run.retryDue, now);
      if (retry) timers.push(retry);
    } else if (current && current.endedAt === null) {
      const timeout = until('timeout', current.timeoutDue, now);
      if (timeout) timers.push(timeout);
      const hb = until('heartbeat', current.heartbeatDue, now);
      if (hb) timers.push(hb);
    }
    const deadline = until('deadline', run.deadlineAt, now);
    if (deadline) timers.push(deadline);
  } else if (run.status !== run.state) parts.push(run.status);
  if (timers.length) parts.push(timers.join(' / '));
  return parts.join(' · ');
}

/** The line without its countdowns: a plain (non-TTY) watch prints a line only when this changes. */
export const progressKey = (run: Run): string => `${run.attempt}/${run.maxAttempts} ${run.state} ${run.status} ${run.attempts.at(-1)?.state ?? ''}`;

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i]!))).join('  ')).join('\n');
}

export function runsTable(runs: readonly RunSummary[]): string {
  if (!runs.length) return 'no runs';
  return table([
    ['ID', 'STATUS', 'STATE', 'ATTEMPT', 'CREATED', 'NAME'],
    ...runs.map((r) => [r.id, r.status, r.state, `${r.attempt}/${r.maxAttempts}`, r.createdAt, r.name]),
  ]);
}

export function runDetails(run: Run): string {
  const head = table([
    ['id', run.id],
    ['name', run.name || '—'],
    ['status', `${run.status} (${run.state})`],
    ['attempt', `${run.attempt}/${run.maxAttempts}`],
    ['target', `${run.config.target.method ?? 'POST'} ${run.config.target.url}`],
    ['created', run.createdAt],
    ['updated', run.updatedAt],
    ...(run.finishedAt ? [['finished', run.finishedAt]] : []),
    ...(run.nextDueAt ? [['next due', run.nextDueAt]] : []),
    ...(run.deadlineAt ? [['deadline', run.deadlineAt]] : []),
    ...(run.rerunOf ? [['rerun of', run.rerunOf]] : []),
    ['overall', run.overallState],
  ]);
  if (!run.attempts.length) return head;
  const attempts = table([
    ['#', 'STATE', 'STARTED', 'ENDED', 'MESSAGE'],
    ...run.attempts.map((a) => [String(a.number), a.state, a.started, a.endedAt ?? '—', a.message]),
  ]);
  return `${head}\n\n${attempts}`;
}

export function eventsTable(events: readonly RunEventEntry[]): string {
  if (!events.length) return 'no events';
  return table([
    ['SEQ', 'AT', 'SOURCE', 'TYPE', 'VERDICT', 'STATE AFTER', 'DETAIL'],
    ...events.map((e) => [
      String(e.seq),
      e.at,
      e.source,
      e.type + (e.repeats ? ` ×${e.repeats}` : ''),
      e.verdict + (e.httpStatus ? ` ${e.httpStatus}` : ''),
      e.stateAfter ?? '',
      e.detail ?? '',
    ]),
  ]);
}

/** `error CODE: message`, then one `  path: message` line per field. */
export function errorText(e: Pick<TetherError, 'code' | 'message' | 'fields'>): string {
  return [`error ${e.code}: ${e.message}`, ...e.fields.map((f) => `  ${f.path}: ${f.message}`)].join('\n');
}
