/**
 * Projections of a run snapshot onto the wire: shared by the server (what it stores and sends) and the
 * dashboard (what it rebuilds when it replays a run), so both read a snapshot the same way.
 */
import type { Attempt, Run, RunStatus, RunSummary } from './protocol/run.ts';
import { attemptDueAt, currentAttempt, type AttemptRecord, type RunContext } from './machine.ts';
import { FINAL_STATES, type RestingState } from './protocol/status.ts';

/** The part of a snapshot the projections need: what a persisted snapshot also has. */
export interface SnapshotLike {
  value: unknown;
  status: string;
  context: RunContext;
}

/** The active leaf state's key: `{ attempt: 'awaitingCallback' }` → `awaitingCallback`. */
export function leafState(value: unknown): RestingState {
  let v = value;
  while (v && typeof v === 'object') {
    const keys = Object.keys(v as Record<string, unknown>);
    v = (v as Record<string, unknown>)[keys[0]!];
  }
  return v as RestingState;
}

export function runStatusOf(s: SnapshotLike): RunStatus {
  const leaf = leafState(s.value);
  return (FINAL_STATES as readonly string[]).includes(leaf) ? (leaf as RunStatus) : 'running';
}

/** The next instant a timer of this run fires, epoch ms, or null. */
export function nextDueOf(s: SnapshotLike): number | null {
  const leaf = leafState(s.value);
  if (leaf === 'triggering' || leaf === 'awaitingCallback') return attemptDueAt(s.context);
  if (leaf === 'retrying') return s.context.retryDue;
  return null;
}

const isoOrNull = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
const iso = (ms: number): string => new Date(ms).toISOString();

export interface AttemptUrls {
  callbackUrl: string | null;
  heartbeatUrl: string | null;
}
export type UrlsFor = (runId: string, attemptId: string) => AttemptUrls;
export const noUrls: UrlsFor = () => ({ callbackUrl: null, heartbeatUrl: null });

export function toWireAttempt(a: AttemptRecord, urls: AttemptUrls): Attempt {
  const out: Attempt = {
    id: a.id,
    number: a.number,
    started: iso(a.started),
    stateSet: iso(a.stateSet),
    timeoutDue: iso(a.timeoutDue),
    state: a.state,
    message: a.message,
    isSuccess: a.isSuccess,
    callbackUrl: urls.callbackUrl,
    heartbeatUrl: urls.heartbeatUrl,
    triggeredAt: isoOrNull(a.triggeredAt),
    endedAt: isoOrNull(a.endedAt),
    heartbeatDue: isoOrNull(a.heartbeatDue),
    lastHeartbeatAt: isoOrNull(a.lastHeartbeatAt),
    timerLatenessMs: a.timerLatenessMs,
    retryable: a.retryable,
  };
  if (a.progress !== undefined) out.progress = a.progress;
  if (a.output !== undefined) out.output = a.output;
  return out;
}

/** Target header values are secrets (Authorization…): the API shows their names only. */
const redactHeaders = (h: Record<string, string>) => Object.fromEntries(Object.keys(h).map((k) => [k, '<redacted>']));

export function redactConfig(config: RunContext['config']): Run['config'] {
  if (!config.target.headers && !config.notify?.headers) return config;
  const out = { ...config };
  if (config.target.headers) out.target = { ...config.target, headers: redactHeaders(config.target.headers) };
  if (config.notify?.headers) out.notify = { ...config.notify, headers: redactHeaders(config.notify.headers) };
  return out;
}

export interface RunMeta {
  rerunOf?: string | null;
}

export function toRun(s: SnapshotLike, meta: RunMeta = {}, urlsFor: UrlsFor = noUrls): Run {
  const c = s.context;
  const last = currentAttempt(c);
  return {
    id: c.runId,
    name: c.config.name ?? '',
    status: runStatusOf(s),
    state: leafState(s.value),
    config: redactConfig(c.config),
    attempts: c.attempts.map((a) => toWireAttempt(a, urlsFor(c.runId, a.id))),
    attempt: last?.number ?? 0,
    maxAttempts: 1 + c.config.retryLimit,
    overallState: c.overallState,
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
    finishedAt: isoOrNull(c.finishedAt),
    nextDueAt: isoOrNull(nextDueOf(s)),
    retryDue: isoOrNull(c.retryDue),
    deadlineAt: isoOrNull(c.deadlineAt),
    rerunOf: meta.rerunOf ?? null,
    failureReason: c.failureReason,
    exhausted: c.failureReason === 'exhausted',
    ...(c.idempotencyKey !== undefined ? { idempotencyKey: c.idempotencyKey } : {}),
  };
}

export function toRunSummary(s: SnapshotLike): RunSummary {
  const c = s.context;
  const last = currentAttempt(c);
  return {
    id: c.runId,
    name: c.config.name ?? '',
    status: runStatusOf(s),
    state: leafState(s.value),
    attempt: last?.number ?? 0,
    maxAttempts: 1 + c.config.retryLimit,
    nextDueAt: isoOrNull(nextDueOf(s)),
    lastMessage: last?.message ?? c.overallState,
    overallState: c.overallState,
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
    finishedAt: isoOrNull(c.finishedAt),
    exhausted: c.failureReason === 'exhausted',
    ...(c.idempotencyKey !== undefined ? { idempotencyKey: c.idempotencyKey } : {}),
  };
}
