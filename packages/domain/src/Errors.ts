/**
 * Every error that crosses the Runtime protocol. Each is a `Schema.TaggedError` so it survives RPC (embedded or
 * HTTP) with its tag and fields intact.
 *
 * Messages are written for people and are sanitized by construction: no error here has a field able to hold a
 * filesystem path, URL, pid, token or credential. Adapters map their own failures into these at their boundary.
 */
import { Schema } from "effect"

const RefFields = {
  runtimeId: Schema.String,
  workerId: Schema.String
}

/** @category errors */
export class WorkerNotFound extends Schema.TaggedError<WorkerNotFound>()("WorkerNotFound", {
  workerId: Schema.String
}) {}

/** The Worker already has a run in flight (single-flight, `whenBusy: "reject"`). @category errors */
export class WorkerBusy extends Schema.TaggedError<WorkerBusy>()("WorkerBusy", {
  workerId: Schema.String,
  runId: Schema.String,
  startedAt: Schema.Number
}) {}

/** The Worker is `stopped` (terminal) or `failed` (no execution host): it takes no input. @category errors */
export class WorkerStopped extends Schema.TaggedError<WorkerStopped>()("WorkerStopped", {
  workerId: Schema.String,
  status: Schema.Literals(["stopped", "failed"])
}) {}

/** `whenBusy: "enqueue"` past the Worker's bounded queue. @category errors */
export class QueueFull extends Schema.TaggedError<QueueFull>()("QueueFull", {
  workerId: Schema.String,
  capacity: Schema.Number
}) {}

/** A request field failed validation; `field` is its path (e.g. `scope[2].target`). @category errors */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  field: Schema.String,
  message: Schema.String
}) {}

/** The profile selector names no profile this Runtime knows. @category errors */
export class InvalidProfile extends Schema.TaggedError<InvalidProfile>()("InvalidProfile", {
  message: Schema.String
}) {}

/**
 * A requested write scope overlaps a live Worker's write scope. Names the competing Worker, never a path it owns.
 * @category errors
 */
export class ScopeConflict extends Schema.TaggedError<ScopeConflict>()("ScopeConflict", {
  conflictsWith: Schema.Struct(RefFields),
  ruleIndex: Schema.Number
}) {}

/** A cursor is ahead of what exists. @category errors */
export class CursorOutOfRange extends Schema.TaggedError<CursorOutOfRange>()("CursorOutOfRange", {
  after: Schema.Number,
  lastSeq: Schema.Number
}) {}

/** The Runtime is shutting down and takes no new commands. @category errors */
export class RuntimeStopping extends Schema.TaggedError<RuntimeStopping>()("RuntimeStopping", {}) {}

/** The LLM engine failed; `code` is the provider's code, `message` is sanitized. @category errors */
export class EngineFailure extends Schema.TaggedError<EngineFailure>()("EngineFailure", {
  provider: Schema.String,
  code: Schema.String,
  message: Schema.String
}) {}

/**
 * The Worker's execution host could not be bound (started or attached): `CreateWorker` created nothing. `code` is
 * the execution's (e.g. `launch_failed`), `message` its fixed, sanitized text.
 * @category errors
 */
export class ExecutionUnavailable extends Schema.TaggedError<ExecutionUnavailable>()("ExecutionUnavailable", {
  code: Schema.String,
  message: Schema.String
}) {}

/** Storage failed. The message is sanitized: it never contains a path. @category errors */
export class StoreFailure extends Schema.TaggedError<StoreFailure>()("StoreFailure", {
  operation: Schema.String,
  message: Schema.String
}) {}

/** Missing or wrong credentials. @category errors */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}) {}

/**
 * A watcher fell further behind than its buffer allows and was closed. Resume with `after: lastDeliveredSeq`.
 * @category errors
 */
export class SubscriberLagged extends Schema.TaggedError<SubscriberLagged>()("SubscriberLagged", {
  lastDeliveredSeq: Schema.Number
}) {}
