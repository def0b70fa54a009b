/** Moved to `protocol/status.ts` (importable without xstate as `@tether/machine/protocol`); kept so older imports still resolve. */
export * from './protocol/status.ts';
