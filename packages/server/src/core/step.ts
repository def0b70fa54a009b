/**
 * The pure core: one event on one run's committed document → the next document, the log entry as stored and what the
 * host must do after committing it. No I/O, no clock (every event carries its `at`). The engine shell locks the run,
 * loads the document, calls one of these, commits the result and executes its effects.
 *
 *   applyEvent      the machine decides: applied (transition, timers, outbox) or rejected (recorded only)
 *   recordEntry     a host-side entry that never reaches the machine (a refusal, a restart marker)
 *   callbackStep / heartbeatStep   the verdict (machine/verdict.ts), then one of the two above
 */
import {
  applyTimerEffects,
  callbackVerdict,
  decide,
  decideInitial,
  heartbeatVerdict,
  leafState,
  runMachine,
  toEffects,
  type CallbackReceivedEvent,
  type HeartbeatReceivedEvent,
  type ResolvedRunConfig,
  type RunEvent,
  type RunEventEntry,
  type RunSnapshot,
  type TimerEvent,
  type Verdict,
} from '@tether/machine';
import type { OutboxEntry, PersistedRunSnapshot, RunDoc } from '../store/types.ts';
import { addToLog } from './event-log.ts';
import { liveOutbox } from './outbox.ts';

export type MachineEvent = RunEvent | TimerEvent;
export type EventSourceName = RunEventEntry['source'];

/** What the log keeps: the rejected-entry bound (a flood of refusals folds into the last one beyond it). */
export interface LogPolicy {
  maxRejected: number;
}

/** The result of a step: commit `doc`, then send `send`, abandon `abandon`, tell subscribers `entry`. */
export interface StepResult {
  doc: RunDoc;
  /** The log entry as stored (a folded heartbeat or refusal carries the seq it replaced). */
  entry: RunEventEntry;
  accepted: boolean;
  /** Outbox entries this commit created: send each once it is durable. */
  send: OutboxEntry[];
  /** Outbox entries this commit dropped because their attempt is over: abort a request still in flight for them. */
  abandon: OutboxEntry[];
  /** How the log changed (a store that keeps entries as rows appends one, or replaces the last). */
  replacedLast: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

export const hydrate = (s: PersistedRunSnapshot): RunSnapshot =>
  runMachine.resolveState({ value: s.value as RunSnapshot['value'], context: s.context });
const persist = (s: RunSnapshot): PersistedRunSnapshot => runMachine.getPersistedSnapshot(s) as unknown as PersistedRunSnapshot;

/** A new run's document, created and started in one step: its `run.created` entry, then `run.start` applied. */
export function createRun(
  id: string,
  config: ResolvedRunConfig,
  at: number,
  rerunOf: string | null,
  policy: LogPolicy,
  idempotency?: RunDoc['idempotency'],
): StepResult {
  const input = { runId: id, config, at, ...(idempotency ? { idempotencyKey: idempotency.key } : {}) };
  const [initial] = decideInitial(input);
  const doc: RunDoc = {
    v: 1,
    id,
    version: 0,
    input,
    rerunOf,
    ...(idempotency ? { idempotency } : {}),
    snapshot: persist(initial),
    timers: [],
    outbox: [],
    events: [
      {
        seq: 0,
        at: iso(at),
        type: 'run.created',
        source: 'api',
        verdict: 'recorded',
        detail: rerunOf ? `Re-run of ${rerunOf}.` : 'Created.',
        stateAfter: leafState(initial.value),
      },
    ],
  };
  return applyEvent(doc, initial, { type: 'run.start', at }, { source: 'api' }, policy);
}

/**
 * The machine decides. Accepted: the transition's effects become the run's new timers (absolute due times) and outbox
 * entries; rejected: the run is unchanged and the refusal recorded. `removeOutbox` is the entry whose outcome this is.
 * `snapshot` is `doc.snapshot` hydrated (the caller may have hydrated it already to reach a verdict).
 */
export function applyEvent(
  doc: RunDoc,
  snapshot: RunSnapshot,
  event: MachineEvent,
  meta: { source: EventSourceName; httpStatus?: number; detail?: string; removeOutbox?: string },
  policy: LogPolicy,
): StepResult {
  const accepted = snapshot.can(event as RunEvent);
  let next = snapshot;
  let timers = doc.timers;
  const created: OutboxEntry[] = [];
  if (accepted) {
    const [after, actions] = decide(snapshot, event);
    next = after;
    const effects = toEffects(actions, event.at);
    timers = applyTimerEffects(doc.timers, effects);
    for (const e of effects) {
      // sends: 1 — this commit precedes exactly one send; each restart that re-sends it adds one in its recovery commit.
      if (e.type === 'sendTrigger')
        created.push({ id: e.attemptId, kind: 'trigger', attemptId: e.attemptId, number: e.number, createdAt: event.at, sends: 1 });
    }
  }
  const persisted = accepted ? persist(next) : doc.snapshot;
  const before = meta.removeOutbox ? doc.outbox.filter((o) => o.id !== meta.removeOutbox) : doc.outbox;
  const outbox = liveOutbox(persisted, [...before, ...created]);

  const entry: RunEventEntry = {
    seq: doc.events.length,
    at: iso(event.at),
    type: event.type,
    source: meta.source,
    verdict: accepted ? 'applied' : 'rejected',
    stateAfter: leafState(next.value),
  };
  const attemptId = (event as { attemptId?: unknown }).attemptId;
  if (typeof attemptId === 'string') entry.attemptId = attemptId;
  if (meta.httpStatus !== undefined) entry.httpStatus = meta.httpStatus;
  if (meta.detail !== undefined) entry.detail = meta.detail;
  if (accepted) entry.event = event;
  else if (entry.detail === undefined) entry.detail = `Not accepted in state ${leafState(snapshot.value)}.`;
  // Say so when this commit ends an attempt whose trigger had not been answered: its request is abandoned.
  const abandon = before.filter((o) => !outbox.includes(o));
  if (abandon.length) {
    const which = abandon.map((o) => `attempt ${o.number}`).join(', ');
    entry.detail = `${entry.detail ? `${entry.detail} ` : ''}The trigger for ${which} had no answer yet: abandoned, never re-sent.`;
  }
  const log = addToLog(doc.events, entry, policy.maxRejected);
  return {
    doc: { ...doc, version: (doc.version ?? 0) + 1, snapshot: persisted, timers, outbox, events: log.events },
    entry: log.stored,
    accepted,
    send: created.filter((o) => outbox.includes(o)),
    abandon,
    replacedLast: log.replacedLast,
  };
}

/**
 * A host-side entry that never reaches the machine: a refusal with its verdict (duplicate, late, unauthorized…) or a
 * restart marker. `resent` are the outbox entries a restart is about to send again: their `sends` count goes up in this
 * same commit. Entries of attempts that are over (documents written before the outbox followed its attempt) are dropped.
 */
export function recordEntry(
  doc: RunDoc,
  e: {
    type: string;
    at: number;
    attemptId?: string;
    verdict: RunEventEntry['verdict'];
    httpStatus?: number;
    detail: string;
    source: EventSourceName;
  },
  policy: LogPolicy,
  resent: readonly string[] = [],
): StepResult {
  const entry: RunEventEntry = {
    seq: doc.events.length,
    at: iso(e.at),
    type: e.type,
    source: e.source,
    verdict: e.verdict,
    detail: e.detail,
    stateAfter: leafState(doc.snapshot.value),
  };
  if (e.attemptId !== undefined) entry.attemptId = e.attemptId;
  if (e.httpStatus !== undefined) entry.httpStatus = e.httpStatus;
  const log = addToLog(doc.events, entry, policy.maxRejected);
  const live = liveOutbox(doc.snapshot, doc.outbox);
  const outbox = resent.length ? live.map((o) => (resent.includes(o.id) ? { ...o, sends: o.sends + 1 } : o)) : live;
  return {
    doc: { ...doc, version: (doc.version ?? 0) + 1, events: log.events, outbox },
    entry: log.stored,
    accepted: false,
    send: [],
    abandon: doc.outbox.filter((o) => !live.includes(o)),
    replacedLast: log.replacedLast,
  };
}

/** A callback's verdict and its step: applied if the machine takes it, otherwise recorded with its verdict. */
export function callbackStep(
  doc: RunDoc,
  event: CallbackReceivedEvent,
  source: EventSourceName,
  policy: LogPolicy,
): { verdict: Verdict; step: StepResult } {
  const snapshot = hydrate(doc.snapshot);
  const verdict = callbackVerdict(snapshot, event);
  return { verdict, step: verdictStep(doc, snapshot, event, source, verdict, policy) };
}

/** A heartbeat's verdict and its step. */
export function heartbeatStep(
  doc: RunDoc,
  event: HeartbeatReceivedEvent,
  source: EventSourceName,
  policy: LogPolicy,
): { verdict: Verdict; step: StepResult } {
  const snapshot = hydrate(doc.snapshot);
  const verdict = heartbeatVerdict(snapshot, event);
  return { verdict, step: verdictStep(doc, snapshot, event, source, verdict, policy) };
}

function verdictStep(doc: RunDoc, snapshot: RunSnapshot, event: RunEvent, source: EventSourceName, v: Verdict, policy: LogPolicy): StepResult {
  if (v.result === 'accepted') return applyEvent(doc, snapshot, event, { source, httpStatus: v.httpStatus, detail: v.detail }, policy);
  const attemptId = (event as { attemptId: string }).attemptId;
  return recordEntry(
    doc,
    { type: event.type, at: event.at, attemptId, verdict: v.logVerdict, httpStatus: v.httpStatus, detail: v.detail, source },
    policy,
  );
}
