/**
 * A test host for `runMachine`, driven only through XState's pure API, the way the server drives it:
 * every event carries `at`; its actions go through the package's one interpreter (`toEffects`): `armTimer` becomes a
 * row of a timer table at absolute `dueAt = event.at + delay`, `cancelTimer` removes it, `sendTrigger` is collected.
 * Time only moves when a test says so (`advanceTo`), so nothing here reads a clock.
 */
import { initialTransition, transition } from 'xstate';
import {
  attemptIdFor,
  currentAttempt,
  runMachine,
  type RunConfig,
  type RunInput,
  type RunEvent,
  type RunMachineEvent,
  type RunSnapshot,
  type TimerEvent,
  type TriggerEffectParams,
  toEffects,
  type Effect,
} from '../src/index.ts';

/** Jan 1 2025 00:00 UTC: a readable origin for ISO assertions. */
export const T0 = Date.UTC(2025, 0, 1);
export const sec = (s: number): number => Math.round(s * 1000);

export const TIMER = {
  triggering: 'xstate.after.attemptTimeout.run.attempt.triggering',
  awaitingCallback: 'xstate.after.attemptTimeout.run.attempt.awaitingCallback',
  retrying: 'xstate.after.retryBackoff.run.retrying',
} as const;
export type TimerType = (typeof TIMER)[keyof typeof TIMER];

/** Whatever the machine accepts, plus the timer events the host fires. */
export type HostEvent = RunEvent | TimerEvent;
export type TimerFire = { type: TimerType; at: number };

export interface TimerRow {
  id: string;
  dueAt: number;
  eventType: TimerType;
}

export type { Effect };

export const baseConfig = (over: Partial<RunConfig> = {}): RunConfig => ({
  target: { url: 'https://jobs.example.com/start' },
  timeoutSeconds: 60,
  retryLimit: 2,
  ...over,
});

/** A JSON round-trip of a snapshot, restored the way a host restores a persisted one. */
export function roundTrip(s: RunSnapshot): RunSnapshot {
  const persisted = JSON.parse(JSON.stringify(runMachine.getPersistedSnapshot(s))) as { value: unknown; context: RunSnapshot['context'] };
  return runMachine.resolveState({ value: persisted.value as RunSnapshot['value'], context: persisted.context });
}

/**
 * XState types a machine's events without its internal `xstate.after.*` events, which the host must still send.
 */
export const asMachineEvent = (e: HostEvent): RunMachineEvent => e as RunMachineEvent;

export class Host {
  snapshot: RunSnapshot;
  readonly input: RunInput;
  /** Armed timers by id (an XState delayed-event id is unique per state). */
  readonly timers = new Map<string, TimerRow>();
  readonly triggers: TriggerEffectParams[] = [];
  /** Every event handed to the machine, in order, accepted or not. */
  readonly log: HostEvent[] = [];
  /** The events the machine accepted (`can()` was true): what a server logs as applied, for replay. */
  readonly applied: HostEvent[] = [];
  /** The snapshot and timer table just before the last event. */
  beforeLast: { snapshot: RunSnapshot; timers: TimerRow[] } | null = null;
  /** Effects of the last step, in the order the machine emitted them. */
  lastEffects: Effect[] = [];
  /** Whether the last event was accepted (`snapshot.can`) before it was applied. */
  lastAccepted = false;
  /** The host's notion of now: the `at` of the last event. */
  now: number;
  /** When set, snapshots are JSON round-tripped after every step (property 1). */
  private readonly persistEachStep: boolean;

  constructor(input: RunInput, opts: { persistEachStep?: boolean } = {}) {
    this.input = input;
    this.persistEachStep = opts.persistEachStep ?? false;
    const [s, actions] = initialTransition(runMachine, input);
    this.snapshot = s;
    this.now = input.at;
    this.apply(actions, input.at);
  }

  static create(config: RunConfig = baseConfig(), opts: { runId?: string; at?: number; persistEachStep?: boolean } = {}): Host {
    return new Host({ runId: opts.runId ?? 'run_test', config, at: opts.at ?? T0 }, opts);
  }

  get context(): RunSnapshot['context'] {
    return this.snapshot.context;
  }

  get value(): RunSnapshot['value'] {
    return this.snapshot.value;
  }

  get attempt() {
    return currentAttempt(this.snapshot.context);
  }

  /** Id of attempt n of this run (deterministic). */
  idOf(n: number): string {
    return attemptIdFor(this.input.runId, n);
  }

  /** Hand one event to the machine, without moving time first. Returns the step's effects. */
  send(event: HostEvent): Effect[] {
    this.beforeLast = { snapshot: this.snapshot, timers: [...this.timers.values()] };
    this.lastAccepted = this.snapshot.can(asMachineEvent(event));
    const [next, actions] = transition(runMachine, this.snapshot, asMachineEvent(event));
    this.log.push(event);
    if (this.lastAccepted) this.applied.push(event);
    this.snapshot = this.persistEachStep ? roundTrip(next) : next;
    this.now = Math.max(this.now, event.at);
    this.lastEffects = this.apply(actions, event.at);
    return this.lastEffects;
  }

  /** Fire every timer due at or before `t`, in due order, each stamped `dueAt + lateMs`; then time is `t`. */
  advanceTo(t: number, lateMs = 0): TimerFire[] {
    const fired: TimerFire[] = [];
    for (;;) {
      const due = this.nextTimer();
      if (!due || due.dueAt > t) break;
      this.timers.delete(due.id);
      const event: TimerFire = { type: due.eventType, at: due.dueAt + lateMs };
      fired.push(event);
      this.send(event);
    }
    this.now = Math.max(this.now, t);
    return fired;
  }

  /** Advance by `ms` from now. */
  advanceBy(ms: number, lateMs = 0): TimerFire[] {
    return this.advanceTo(this.now + ms, lateMs);
  }

  /** Fire the next timer (at its due time plus `lateMs`), whatever its due time. */
  fireNext(lateMs = 0): TimerFire {
    const due = this.nextTimer();
    if (!due) throw new Error('no timer is armed');
    this.timers.delete(due.id);
    const event: TimerFire = { type: due.eventType, at: due.dueAt + lateMs };
    this.send(event);
    return event;
  }

  nextTimer(): TimerRow | undefined {
    let best: TimerRow | undefined;
    for (const row of this.timers.values()) if (!best || row.dueAt < best.dueAt) best = row;
    return best;
  }

  /** Execute a step's actions as a host would, through the machine package's one interpreter (toEffects). */
  private apply(actions: ReadonlyArray<{ type: string; params?: unknown }>, at: number): Effect[] {
    const effects = toEffects(actions, at);
    for (const e of effects) {
      if (e.type === 'armTimer') this.timers.set(e.key, { id: e.key, dueAt: e.dueAt, eventType: e.eventType as TimerType });
      else if (e.type === 'cancelTimer') this.timers.delete(e.key);
      else this.triggers.push({ attemptId: e.attemptId, number: e.number });
    }
    return effects;
  }
}

/** The effects of a step reduced to comparable data. */
export const effectTypes = (effects: Effect[]): string[] => effects.map((e) => e.type);

/** Replays a log from the input through the pure API, ignoring timers: the events already carry their `at`. */
export function replay(input: RunInput, log: readonly HostEvent[]): RunSnapshot {
  let [s] = initialTransition(runMachine, input);
  for (const e of log) [s] = transition(runMachine, s, asMachineEvent(e));
  return s;
}
