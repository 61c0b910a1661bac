/**
 * Events of a Worker and of a Runtime, and the items a watcher receives.
 *
 * Every Worker event carries its Worker's `seq` (1, 2, 3, …, assigned at append time) and `at` (epoch ms).
 * `text_delta` and `reasoning_delta` are **transient**: kept in a bounded in-memory replay buffer and never
 * persisted. Every other kind is **durable**: persisted before it is published. A watch stream starts with a
 * snapshot, so a client that missed transient deltas is made whole by the snapshot's in-flight text.
 */
import { Schema } from "effect"
import { FinishReason } from "./LlmEngine.ts"
import { Count, Timestamp, UsageFigures, UsageTotals, WorkerStatus } from "./Worker.ts"

const base = { seq: Count, at: Timestamp }
const ofRun = { ...base, runId: Schema.String }

/** @category schemas */
export const InputAcceptedEvent = Schema.TaggedStruct("input_accepted", {
  ...ofRun,
  inputId: Schema.String,
  text: Schema.String
})
/** @category schemas */
export const InputQueuedEvent = Schema.TaggedStruct("input_queued", {
  ...ofRun,
  inputId: Schema.String,
  text: Schema.String,
  position: Count
})
/** A queued input was cancelled before it ran (`CancelQueued`, `StopWorker`, a lost binding). @category schemas */
export const InputCancelledEvent = Schema.TaggedStruct("input_cancelled", {
  ...ofRun,
  inputId: Schema.String,
  reason: Schema.String
})
/** @category schemas */
export const RunStartedEvent = Schema.TaggedStruct("run_started", { ...ofRun, inputId: Schema.String })
/** Transient. @category schemas */
export const TextDeltaEvent = Schema.TaggedStruct("text_delta", { ...ofRun, delta: Schema.String })
/** @category schemas */
export const TextDoneEvent = Schema.TaggedStruct("text_done", { ...ofRun, text: Schema.String })
/** Transient. @category schemas */
export const ReasoningDeltaEvent = Schema.TaggedStruct("reasoning_delta", { ...ofRun, delta: Schema.String })
/** @category schemas */
export const ReasoningDoneEvent = Schema.TaggedStruct("reasoning_done", { ...ofRun, text: Schema.String })
/** @category schemas */
export const ToolCallEvent = Schema.TaggedStruct("tool_call", {
  ...ofRun,
  callId: Schema.String,
  name: Schema.String,
  input: Schema.String
})
/** @category schemas */
export const ToolResultEvent = Schema.TaggedStruct("tool_result", {
  ...ofRun,
  callId: Schema.String,
  output: Schema.String,
  isError: Schema.Boolean
})
/** Usage of the run that just ended, and the Worker's totals after it. @category schemas */
export const UsageEvent = Schema.TaggedStruct("usage", { ...ofRun, run: UsageFigures, total: UsageTotals })
/** The engine is retrying a request before its stream started. @category schemas */
export const RetryEvent = Schema.TaggedStruct("retry", {
  ...ofRun,
  attempt: Count,
  reason: Schema.String,
  delayMs: Count
})
/**
 * `finishReason` is set when the provider said why it stopped (`length`: the reply hit the output token limit).
 * @category schemas
 */
export const RunFinishedEvent = Schema.TaggedStruct("run_finished", {
  ...ofRun,
  finishReason: Schema.optional(FinishReason)
})
/** @category schemas */
export const RunCancelledEvent = Schema.TaggedStruct("run_cancelled", { ...ofRun, reason: Schema.String })
/**
 * `reason`: `engine_failure`, `runtime_restarted`, `worker_stopped`, … (machine-readable); `message` is sanitized.
 * @category schemas
 */
export const RunFailedEvent = Schema.TaggedStruct("run_failed", {
  ...ofRun,
  reason: Schema.String,
  code: Schema.String,
  message: Schema.String
})
/** @category schemas */
export const StatusChangedEvent = Schema.TaggedStruct("status_changed", {
  ...base,
  from: WorkerStatus,
  to: WorkerStatus
})
/** @category schemas */
export const WorkerStoppedEvent = Schema.TaggedStruct("worker_stopped", { ...base, reason: Schema.String })
/** Every event of a Worker. @category schemas */
export const WorkerEvent = Schema.Union([
  InputAcceptedEvent,
  InputQueuedEvent,
  InputCancelledEvent,
  RunStartedEvent,
  TextDeltaEvent,
  TextDoneEvent,
  ReasoningDeltaEvent,
  ReasoningDoneEvent,
  ToolCallEvent,
  ToolResultEvent,
  UsageEvent,
  RetryEvent,
  RunFinishedEvent,
  RunCancelledEvent,
  RunFailedEvent,
  StatusChangedEvent,
  WorkerStoppedEvent
])
/** @category models */
export type WorkerEvent = typeof WorkerEvent.Type

/** A Worker event before the Runtime assigned its `seq`. @category models */
export type WorkerEventInput = WorkerEvent extends infer E ? E extends WorkerEvent ? Omit<E, "seq"> : never : never

/** Transient kinds live only in memory. @category constructors */
export const isTransient = (event: { readonly _tag: WorkerEvent["_tag"] }): boolean =>
  event._tag === "text_delta" || event._tag === "reasoning_delta"

/**
 * The first item of every `WatchWorker` stream: where the Worker stands at `lastSeq`.
 * `run.text` / `run.reasoning` are the in-flight text up to `lastSeq`. `gap` is true when some events after the
 * requested cursor could not be replayed (transient deltas no longer buffered): use the snapshot's text.
 * @category schemas
 */
export const WorkerSnapshot = Schema.TaggedStruct("snapshot", {
  workerId: Schema.String,
  status: WorkerStatus,
  lastSeq: Count,
  queueLength: Count,
  run: Schema.optional(Schema.Struct({
    runId: Schema.String,
    inputId: Schema.String,
    startedAt: Timestamp,
    text: Schema.String,
    reasoning: Schema.String
  })),
  gap: Schema.Boolean
})
/** @category models */
export type WorkerSnapshot = typeof WorkerSnapshot.Type

/** What `WatchWorker` streams: a snapshot, then events in `seq` order. @category schemas */
export const WorkerWatchItem = Schema.Union([WorkerSnapshot, ...WorkerEvent.members])
/** @category models */
export type WorkerWatchItem = typeof WorkerWatchItem.Type

// ---------------------------------------------------------------------------------------------------------------
// Runtime-wide lifecycle stream

const runtimeBase = { seq: Count, at: Timestamp, workerId: Schema.String }

/** @category schemas */
export const WorkerCreatedEvent = Schema.TaggedStruct("worker_created", {
  ...runtimeBase,
  displayName: Schema.String
})
/** @category schemas */
export const WorkerStatusEvent = Schema.TaggedStruct("worker_status", {
  ...runtimeBase,
  from: WorkerStatus,
  to: WorkerStatus
})
/** @category schemas */
export const RuntimeEvent = Schema.Union([WorkerCreatedEvent, WorkerStatusEvent])
/** @category models */
export type RuntimeEvent = typeof RuntimeEvent.Type
/** @category models */
export type RuntimeEventInput = RuntimeEvent extends infer E ? E extends RuntimeEvent ? Omit<E, "seq"> : never
  : never

/** The first item of a `WatchRuntime` stream. @category schemas */
export const RuntimeSnapshot = Schema.TaggedStruct("runtime_snapshot", {
  lastSeq: Count,
  workers: Schema.Struct({ idle: Count, running: Count, stopped: Count, failed: Count }),
  gap: Schema.Boolean
})
/** @category models */
export type RuntimeSnapshot = typeof RuntimeSnapshot.Type

/** @category schemas */
export const RuntimeWatchItem = Schema.Union([RuntimeSnapshot, ...RuntimeEvent.members])
/** @category models */
export type RuntimeWatchItem = typeof RuntimeWatchItem.Type
