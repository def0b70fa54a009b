/**
 * The wire contract: every shape that crosses a process boundary (HTTP bodies and answers, the trigger, the stream),
 * as TypeBox schemas whose value and type share a name (`Run` is both the schema and `Static<typeof Run>`), plus the
 * status vocabulary they are built from.
 *
 * Importable on its own as `@tether/machine/protocol`: nothing under `protocol/` imports xstate or any module outside
 * this folder (only `typebox`), so a consumer that needs only data (a page, an external system's tests) does not load
 * the statechart. test/protocol-isolation.test.ts holds it to that.
 */
export {
  RUN_STATUSES,
  FINAL_RUN_STATUSES,
  isFinalRunStatus,
  ATTEMPT_STATES,
  OPEN_ATTEMPT_STATES,
  isOpenAttemptState,
  isFailedAttemptState,
  RESTING_STATES,
  FINAL_STATES,
  EVENT_SOURCES,
  EVENT_VERDICTS,
  DERIVED_FILTERS,
  OVERDUE_GRACE_MS,
  isRetrying,
  isInBackoff,
  isOverdue,
  isExhausted,
  DERIVED_PREDICATES,
  DERIVED_FILTER_LABELS,
  type RunStatusName,
  type AttemptStateName,
  type RestingState,
  type DerivedFilter,
  type DerivableRun,
} from './status.ts';
export { Backoff, Target, Notify, RunConfig, type ResolvedRunConfig } from './run-config.ts';
export { AttemptState, RunStatus, FailureReason, Attempt, Run, RunSummary, Notification, NotificationState, RunFinishedNotification } from './run.ts';
export { EventSource, EventVerdict, RunEventEntry } from './events.ts';
export { CALLBACK_MESSAGE_MAX_LENGTH, CallbackPayload, CallbackBody, HeartbeatBody, CallbackResult } from './callback.ts';
export { TriggerBody } from './trigger.ts';
export { SIMULATOR_OUTCOMES, SimulatorOutcome, SimulateSpec, SimulatorJob, SimulatorJobList } from './simulator.ts';
export { STREAM_WATCH_MAX_RUNS, StreamMessage, StreamQuery, StreamWatch } from './stream.ts';
export { ErrorField, ErrorBody } from './errors.ts';
export { CreateHeaders, MAX_WAIT_SECONDS, RunListQuery, RunList, RunWaitQuery, EventList } from './pages.ts';
export { RUN_LIST_SORTS, DEFAULT_RUN_LIST_SORT, RunListSort, RunFilter } from './pages.ts';
export { CancelBody, CompleteBody, RerunBody } from './actions.ts';
export { MAX_BULK_RUNS, BULK_ACTIONS, BULK_OUTCOMES, BulkAction, BulkOutcome, BulkBody, BulkCancelBody, BulkRunResult, BulkResult } from './bulk.ts';
export { GraphNode, GraphEdge, MachineGraph } from './graph.ts';
export { DamagedRun, Health, Readiness, WriteBackFailure, WriteBackStatus } from './health.ts';
