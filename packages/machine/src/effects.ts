/**
 * The only interpreter of the run machine's actions. `transition()` hands back XState actions; a host must turn them
 * into what it does: arm a timer at an absolute time, disarm one, send a trigger. Every host — the server's engine,
 * the tests' host, the dashboard's "what happens next" — goes through `toEffects`, so there is one reading of them.
 *
 * Times are absolute: a delayed raise of `delay` ms at an event stamped `at` is a timer due at `at + delay` (the
 * machine computes each delay from an absolute due time in its context, so the host re-arms the same instant after a
 * restart).
 */
import type { TimerEvent, TriggerEffectParams } from './machine.ts';

/** Arm (or move) the run's timer `key`: at `dueAt`, the host sends `{ type: eventType, at }` back to the machine. */
export interface ArmTimer {
  type: 'armTimer';
  key: string;
  dueAt: number;
  eventType: TimerEvent['type'];
}

/** Disarm the run's timer `key`, if armed. */
export interface CancelTimer {
  type: 'cancelTimer';
  key: string;
}

/** Send the trigger request of an attempt that just opened (at least once: Idempotency-Key = attemptId). */
export interface SendTrigger extends TriggerEffectParams {
  type: 'sendTrigger';
}

export type Effect = ArmTimer | CancelTimer | SendTrigger;

/** An action as `transition()` returns it: `xstate.raise`, `xstate.cancel`, or one of the machine's own. */
export interface MachineAction {
  type: string;
  params?: unknown;
}

export class UnknownActionError extends Error {
  constructor(readonly action: MachineAction) {
    super(`The run machine returned an action no host knows how to execute: ${action.type}`);
    this.name = 'UnknownActionError';
  }
}

/** The effects of one step's actions, for an event stamped `at`. Throws on an action it does not know. */
export function toEffects(actions: ReadonlyArray<MachineAction>, at: number): Effect[] {
  const out: Effect[] = [];
  for (const a of actions) {
    if (a.type === 'xstate.raise') {
      const p = a.params as { id?: string; delay?: number; event: { type: string } };
      // An undelayed raise is processed by XState inside the step; only delayed ones reach the host.
      if (p.delay === undefined || p.id === undefined) continue;
      out.push({ type: 'armTimer', key: p.id, dueAt: at + p.delay, eventType: p.event.type as TimerEvent['type'] });
    } else if (a.type === 'xstate.cancel') {
      out.push({ type: 'cancelTimer', key: (a.params as { sendId: string }).sendId });
    } else if (a.type === 'triggerAttempt') {
      const p = a.params as TriggerEffectParams;
      out.push({ type: 'sendTrigger', attemptId: p.attemptId, number: p.number });
    } else {
      throw new UnknownActionError(a);
    }
  }
  return out;
}

/** A run's timers as a host keeps them (absolute due times), keyed by timer key. */
export interface TimerRow {
  key: string;
  dueAt: number;
  eventType: string;
}

/** The timer table after a step's effects: arms replace by key, cancels remove. Pure: `timers` is not changed. */
export function applyTimerEffects(timers: readonly TimerRow[], effects: readonly Effect[]): TimerRow[] {
  const byKey = new Map(timers.map((t) => [t.key, t]));
  for (const e of effects) {
    if (e.type === 'armTimer') byKey.set(e.key, { key: e.key, dueAt: e.dueAt, eventType: e.eventType });
    else if (e.type === 'cancelTimer') byKey.delete(e.key);
  }
  return [...byKey.values()];
}
