/** Moved to `protocol/` (importable without xstate as `@tether/machine/protocol`); kept so older imports still resolve. */
export * from './protocol/index.ts';
