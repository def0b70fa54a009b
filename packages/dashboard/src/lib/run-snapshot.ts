/**
 * A run from the API rebuilt in the shared statechart — its log replayed from its input, as the server rebuilds it —
 * so the dashboard can ask the machine itself what the run accepts now and what each event would do, rather than
 * re-stating the rules in UI code.
 */
import { getMicrosteps, getNextTransitions, transition, type StateValue } from 'xstate';
import {
  leafState,
  machineGraph,
  replayRun as replayMachineRun,
  toEffects,
  type MachineAction,
  nextDueOf,
  resolveRunConfig,
  runMachine,
  toRun,
  type AttemptRecord,
  type RunContext,
  type RunInput,
  type RunMachineEvent,
  type RunSnapshot,
} from '@tether/machine';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { formatDuration } from './time.ts';

const GRAPH = machineGraph();

const ms = (iso: string): number => Date.parse(iso);
const msOrNull = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) : null);

/**
 * The machine's context rebuilt from the wire `Run`: only the fallback of `liveSnapshot` for a log that cannot be
 * replayed (see there). What the wire does not carry: the accepted callback body (only used to tell a duplicate
 * callback from a conflicting one; rebuilt from the attempt's outcome) and the cancel reason (only shown in the overall
 * sentence, which is carried as is).
 */
export function contextFromRun(run: Run): RunContext {
  const deadlineAt = msOrNull(run.deadlineAt);
  const attempts: AttemptRecord[] = run.attempts.map((a) => {
    const timeoutDue = ms(a.timeoutDue);
    const record: AttemptRecord = {
      id: a.id,
      number: a.number,
      started: ms(a.started),
      stateSet: ms(a.stateSet),
      timeoutDue,
      deadlineCapped: deadlineAt !== null && timeoutDue === deadlineAt,
      state: a.state,
      message: a.message,
      isSuccess: a.isSuccess,
      triggeredAt: msOrNull(a.triggeredAt),
      endedAt: msOrNull(a.endedAt),
      heartbeatDue: msOrNull(a.heartbeatDue),
      lastHeartbeatAt: msOrNull(a.lastHeartbeatAt),
      timerLatenessMs: a.timerLatenessMs,
      retryable: a.retryable,
      callback: a.state === 'CallbackSuccess' || a.state === 'CallbackFailure' ? { success: a.isSuccess, message: a.message } : null,
    };
    if (a.progress !== undefined) record.progress = a.progress;
    if (a.output !== undefined) record.output = a.output;
    return record;
  });
  return {
    runId: run.id,
    config: resolveRunConfig(run.config),
    createdAt: ms(run.createdAt),
    updatedAt: ms(run.updatedAt),
    deadlineAt,
    attempts,
    retryDue: msOrNull(run.retryDue),
    finishedAt: msOrNull(run.finishedAt),
    failureReason: run.failureReason,
    cancelReason: null,
    overallState: run.overallState,
    ...(run.idempotencyKey !== undefined ? { idempotencyKey: run.idempotencyKey } : {}),
  };
}

/** `awaitingCallback` → `{ attempt: 'awaitingCallback' }`, from the machine's own graph. */
export function stateValueOf(leaf: string): StateValue {
  const node = GRAPH.nodes.find((n) => n.id === leaf);
  if (!node) throw new Error(`Unknown state "${leaf}"`);
  const parts = node.path.split('.');
  let value: StateValue = parts[parts.length - 1]!;
  for (let i = parts.length - 2; i >= 0; i--) value = { [parts[i]!]: value };
  return value;
}

/** The state ids active in a leaf state: the leaf and its ancestors (`awaitingCallback`, `attempt`). */
export function activeStateIds(leaf: string): string[] {
  const out: string[] = [];
  let node = GRAPH.nodes.find((n) => n.id === leaf);
  while (node) {
    out.push(node.id);
    const parent: string | null = node.parent;
    node = parent === null ? undefined : GRAPH.nodes.find((n) => n.id === parent);
  }
  return out;
}

/** The run hydrated from its wire form alone (`contextFromRun`): the fallback of `liveSnapshot`. */
export function snapshotFromRun(run: Run): RunSnapshot {
  return runMachine.resolveState({ value: stateValueOf(run.state), context: contextFromRun(run) });
}

/** What the machine was created with, read back from the wire `Run` (header values come redacted: no rule reads them). */
export function inputOfRun(run: Pick<Run, 'id' | 'config' | 'createdAt' | 'idempotencyKey'>): RunInput {
  return {
    runId: run.id,
    config: run.config,
    at: Date.parse(run.createdAt),
    ...(run.idempotencyKey !== undefined ? { idempotencyKey: run.idempotencyKey } : {}),
  };
}

/**
 * The run rebuilt by replaying its log through the shared machine, up to and including entry `uptoSeq`: the applied
 * entries' exact events, in order, from the run's input (id, config, creation time). What time travel scrubs.
 */
export function replayRun(
  run: Pick<Run, 'id' | 'config' | 'createdAt' | 'idempotencyKey'>,
  events: readonly RunEventEntry[],
  uptoSeq = Number.POSITIVE_INFINITY,
): RunSnapshot {
  // The machine package's one replay (the server's and the inspector's too), from the run's input.
  return replayMachineRun(inputOfRun(run), events, uptoSeq);
}

/** Where the live snapshot came from: the log replayed (the rule), or the wire run hydrated (the fallback, and why). */
export type LiveSnapshot = { snapshot: RunSnapshot; source: 'replay' } | { snapshot: RunSnapshot; source: 'hydrated'; why: string };

/** The replayed snapshot is the run the server sent: same state, same attempts, same last commit. */
function agrees(snapshot: RunSnapshot, run: Run): boolean {
  const c = snapshot.context;
  return leafState(snapshot.value) === run.state && c.attempts.length === run.attempts.length && c.updatedAt === Date.parse(run.updatedAt);
}

/**
 * The run as the machine holds it now: its log replayed through the shared machine from its input, exactly as the
 * server rebuilds it — so what the page asks of it (what it accepts next, the forecast) is what the server would
 * answer. Replay falls short when the log does not (yet) reach the run:
 *
 * - an action's answer or the stream's `run.updated` lands a moment before the `run.event` entries of the same commit
 *   (and a reconnect re-reads both), so for that moment the log is one commit behind the run;
 * - an applied entry without its exact `event` (logs written before entries carried one) cannot be replayed at all.
 *
 * Then the wire run itself is hydrated into the machine (`contextFromRun`), said so in `why`, so the page never shows
 * a run a commit behind the header above it.
 */
export function liveSnapshot(run: Run, events: readonly RunEventEntry[]): LiveSnapshot {
  const unreplayable = events.find((e) => e.verdict === 'applied' && e.event === undefined);
  if (unreplayable) {
    return { snapshot: snapshotFromRun(run), source: 'hydrated', why: `log entry ${unreplayable.seq} was applied but carries no event to replay` };
  }
  const replayed = replayRun(run, events);
  if (agrees(replayed, run)) return { snapshot: replayed, source: 'replay' };
  return {
    snapshot: snapshotFromRun(run),
    source: 'hydrated',
    why: 'the event log does not reach the run yet (its last commit is still on the way)',
  };
}

/** The run as it was right after one entry of its log: what time travel shows. */
export interface RunAtEntry {
  entry: RunEventEntry;
  /** Position of the entry in the log (0-based), for the scrubber. */
  index: number;
  /** The instant of the entry, epoch ms: the `now` of that moment. */
  at: number;
  snapshot: RunSnapshot;
  /** The snapshot projected with the shared `toRun`, as the API would have returned it then (without signed URLs). */
  run: Run;
}

/** The run right after log entry `seq`, rebuilt by replaying the log through the shared machine; null if no such entry. */
export function runAtEntry(
  run: Pick<Run, 'id' | 'config' | 'createdAt' | 'rerunOf' | 'idempotencyKey'>,
  events: readonly RunEventEntry[],
  seq: number,
): RunAtEntry | null {
  const index = events.findIndex((e) => e.seq === seq);
  const entry = events[index];
  if (!entry) return null;
  const snapshot = replayRun(run, events, seq);
  return { entry, index, at: Date.parse(entry.at), snapshot, run: toRun(snapshot, { rerunOf: run.rerunOf }) };
}

export type StepSender = 'external system' | 'operator' | 'trigger request' | 'timer';

export interface NextStep {
  key: string;
  eventType: string;
  kind: 'event' | 'timer';
  sender: StepSender;
  label: string;
  /** The machine's guard on the transition taken or tried, if any. */
  guard: string | null;
  /** True when the machine takes a transition for this event now. */
  accepted: boolean;
  /** For timers: when it fires. */
  dueAt: number | null;
  /** The states the run passes through (transient ones included) and where it rests. */
  path: string[];
  resultState: string;
  resultSentence: string;
  effects: string[];
  /** The exact event that was tried. */
  event: RunMachineEvent;
}

export interface NextSteps {
  final: boolean;
  steps: NextStep[];
  /** Event types the machine knows but the current state does not handle at all. */
  notAccepted: string[];
}

interface Candidate {
  sender: StepSender;
  label: string;
  event: RunMachineEvent;
}

const DELAY_LABEL: Record<string, string> = {
  attemptTimeout: 'Attempt timeout fires',
  retryBackoff: 'Backoff ends, next attempt starts',
};

function candidatesFor(eventType: string, delay: unknown, snapshot: RunSnapshot, now: number): Candidate[] {
  const c = snapshot.context;
  const attemptId = c.attempts[c.attempts.length - 1]?.id ?? '';
  switch (eventType) {
    case 'run.start':
      return [{ sender: 'operator', label: 'Start the run', event: { type: 'run.start', at: now } }];
    case 'trigger.succeeded':
      return [{ sender: 'trigger request', label: 'Trigger answered 2xx', event: { type: 'trigger.succeeded', attemptId, at: now } }];
    case 'trigger.failed':
      return [
        {
          sender: 'trigger request',
          label: 'Trigger failed (non-2xx or network error)',
          event: { type: 'trigger.failed', attemptId, message: 'trigger failed', at: now },
        },
      ];
    case 'callback.received':
      return [
        { sender: 'external system', label: 'Success callback', event: { type: 'callback.received', attemptId, success: true, at: now } },
        { sender: 'external system', label: 'Failure callback', event: { type: 'callback.received', attemptId, success: false, at: now } },
      ];
    case 'heartbeat.received':
      return [{ sender: 'external system', label: 'Heartbeat', event: { type: 'heartbeat.received', attemptId, at: now } }];
    case 'attempt.forceTimeout':
      return [{ sender: 'operator', label: 'Force timeout', event: { type: 'attempt.forceTimeout', attemptId, at: now } }];
    case 'run.cancel':
      return [{ sender: 'operator', label: 'Cancel', event: { type: 'run.cancel', reason: 'cancelled from the dashboard', at: now } }];
    case 'run.retryNow':
      return [{ sender: 'operator', label: 'Retry now', event: { type: 'run.retryNow', at: now } }];
    default:
      if (eventType.startsWith('xstate.after.')) {
        const due = nextDueOf(snapshot) ?? now;
        const name = String(delay);
        return [
          {
            sender: 'timer',
            label: DELAY_LABEL[name] ?? `Timer ${name} fires`,
            // Timer events carry the instant they fire, like every other event of this machine.
            event: { type: eventType, at: due } as unknown as RunMachineEvent,
          },
        ];
      }
      return [];
  }
}

/** What a step would make the host do, in words, read through the machine package's one interpreter of actions. */
function describeEffects(actions: ReadonlyArray<MachineAction>, at: number): string[] {
  return toEffects(actions, at).flatMap((e) => {
    if (e.type === 'sendTrigger') return [`sends the trigger for attempt ${e.number}`];
    if (e.type === 'armTimer') return [`arms ${e.key.split('.')[2] ?? 'timer'} in ${formatDuration(e.dueAt - at)}`];
    return [];
  });
}

/**
 * Every transition the current state could take, tried against the machine with a representative event:
 * whether it is accepted now, where it leads (through transient states) and what it would make the host do.
 */
export function nextSteps(snapshot: RunSnapshot, now: number): NextSteps {
  const allEventTypes = [...new Set(GRAPH.edges.filter((e) => e.kind === 'on').map((e) => e.label))];
  if (snapshot.status === 'done') return { final: true, steps: [], notAccepted: allEventTypes };

  const seen = new Set<string>();
  const steps: NextStep[] = [];
  for (const t of getNextTransitions(snapshot)) {
    if (seen.has(t.eventType)) continue;
    seen.add(t.eventType);
    const delay = (t as { delay?: unknown }).delay;
    for (const cand of candidatesFor(t.eventType, delay, snapshot, now)) {
      const accepted = snapshot.can(cand.event);
      const taken = runMachine.getTransitionData(snapshot, cand.event)[0];
      const tried = taken ?? getNextTransitions(snapshot).find((x) => x.eventType === t.eventType);
      const guard = tried?.guard ? String((tried.guard as { type?: unknown }).type ?? tried.guard) : null;
      let path: string[] = [];
      let resultState = leafState(snapshot.value);
      let resultSentence = snapshot.context.overallState;
      let effects: string[] = [];
      if (accepted) {
        const micro = getMicrosteps(runMachine, snapshot, cand.event);
        path = micro.map(([s]) => leafState(s.value));
        const [next, actions] = transition(runMachine, snapshot, cand.event);
        resultState = leafState(next.value);
        resultSentence = next.context.overallState;
        effects = describeEffects(actions, cand.event.at);
      }
      const kind = cand.sender === 'timer' ? 'timer' : 'event';
      steps.push({
        key: `${cand.event.type}:${cand.label}`,
        eventType: cand.event.type,
        kind,
        sender: cand.sender,
        label: cand.label,
        guard,
        accepted,
        dueAt: kind === 'timer' ? cand.event.at : null,
        path,
        resultState,
        resultSentence,
        effects,
        event: cand.event,
      });
    }
  }
  return { final: false, steps, notAccepted: allEventTypes.filter((t) => !seen.has(t)) };
}
