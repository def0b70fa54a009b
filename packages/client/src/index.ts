/**
 * `@tether/client`: a typed client for Tether's API (Node 20+ and browsers), the external system's callback and
 * heartbeat calls, and the verifier of Tether's signed completion notifications. Every request and answer type is the
 * wire contract's (`@tether/machine/protocol`), re-exported here for convenience.
 */
export {
  Tether,
  RunsApi,
  MAX_WAIT_SECONDS,
  type TetherOptions,
  type CreateOptions,
  type GetOptions,
  type ListQuery,
  type ListPageQuery,
  type BulkTarget,
  type BulkRequest,
  type RerunOptions,
  type ResultOptions,
} from './client.ts';
export { TetherError, isTetherError, CLIENT_ERROR_CODES, type TetherErrorOptions } from './errors.ts';
export { callback, heartbeat, type ExternalOptions } from './external.ts';
export type { FetchLike } from './http.ts';
export type { WatchMessage, WatchOptions, WebSocketConstructor, WebSocketLike } from './stream.ts';
export {
  verifyNotification,
  signNotification,
  SIGNATURE_HEADER,
  DEFAULT_TOLERANCE_SECONDS,
  type RunFinishedNotification,
  type TetherNotification,
  type HeaderBag,
  type VerifyOptions,
} from './notifications.ts';
export type {
  Attempt,
  BulkAction,
  BulkOutcome,
  BulkResult,
  BulkRunResult,
  CallbackBody,
  CallbackPayload,
  CallbackResult,
  CompleteBody,
  ErrorBody,
  ErrorField,
  Run,
  RunConfig,
  RunEventEntry,
  RunFilter,
  RunList,
  RunListSort,
  RunStatus,
  RunSummary,
  SimulateSpec,
  StreamMessage,
  TriggerBody,
} from '@tether/machine/protocol';
