export { Engine, CommitError, newRunId, type EngineOptions, type RunUpdate, type CallbackOutcome } from './engine/engine.ts';
export { TimerService, type TimerEntry } from './engine/timer-service.ts';
export { Mailboxes } from './engine/mailbox.ts';
export { Signer, loadOrCreateSecret } from './engine/signer.ts';
export { systemClock, type Clock } from './engine/clock.ts';
export { replayRun } from './engine/replay.ts';
export { LowdbRunStore } from './store/lowdb-store.ts';
export { CorruptRunFileError, type RunStore, type RunDoc } from './store/types.ts';
