/**
 * The pure XState step, without XState's per-call setup cost.
 *
 * `transition(machine, snapshot, event)` from xstate builds a throwaway actor for every call, and the Actor
 * constructor eagerly computes an initial snapshot, running the run machine's context factory with no input (it
 * throws, XState catches and records it). That was ~10% of the engine's CPU per event in the commit profile
 * (docs/benchmarks.md). The machine has no children, no `systemId`s and no side effects of its own, so one inert
 * actor scope, built once, serves every call; the actions are collected exactly as xstate's `transition` does.
 * `replay.ts` keeps using xstate's own `transition`, and the tests assert both give the same snapshot.
 */
import { createActor, type AnyActorScope } from 'xstate';
import { runMachine, type RunEvent, type RunInput, type RunSnapshot, type TimerEvent } from './machine.ts';
import type { MachineAction } from './effects.ts';

export type DecidedAction = MachineAction;

let scope: AnyActorScope | null = null;
let collected: DecidedAction[] = [];

function inertScope(): AnyActorScope {
  if (scope) return scope;
  // Any valid input: the actor is never started; it only lends `self` and `system` to the scope, as in xstate.
  const self = createActor(runMachine, {
    input: { runId: 'run_inert', at: 0, config: { target: { url: 'http://127.0.0.1/' }, timeoutSeconds: 1, retryLimit: 0 } },
  });
  scope = {
    self,
    id: '',
    sessionId: '',
    logger: () => {},
    defer: () => {},
    emit: () => {},
    system: self.system,
    stopChild: () => {},
    actionExecutor: (action) => {
      collected.push(action as DecidedAction);
    },
  };
  return scope;
}

/** Same contract as xstate's `initialTransition(runMachine, input)`. */
export function decideInitial(input: RunInput): [RunSnapshot, DecidedAction[]] {
  const s = inertScope();
  collected = [];
  try {
    const first = runMachine.getInitialSnapshot(s, input) as RunSnapshot;
    return [first, collected];
  } finally {
    collected = [];
  }
}

/** Same contract as xstate's `transition(runMachine, snapshot, event)`: the next snapshot and the actions to execute. */
export function decide(snapshot: RunSnapshot, event: RunEvent | TimerEvent): [RunSnapshot, DecidedAction[]] {
  const s = inertScope();
  collected = [];
  try {
    const next = runMachine.transition(snapshot, event as RunEvent, s) as RunSnapshot;
    return [next, collected];
  } finally {
    collected = [];
  }
}
