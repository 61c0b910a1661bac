/**
 * The Runtime protocol's request and result shapes.
 *
 * **Details** Requests are *wire-tolerant*: identifiers, enums and text travel as plain strings and numbers, and the
 * Runtime validates them into the domain types. A payload that failed a strict schema would surface as an RPC
 * transport defect; validating in the Runtime makes every bad input a typed `InvalidRequest` (with a field path)
 * that behaves the same embedded and over HTTP.
 */
import { Schema } from "effect"
import { WorkerDetail } from "./Worker.ts"

/** @category schemas */
export const WorkerIdPayload = Schema.Struct({ workerId: Schema.String })

/** @category schemas */
export const UserInputPayload = Schema.Struct({ kind: Schema.String, text: Schema.String })

/** @category schemas */
export const ProfileSelectorPayload = Schema.Struct({ kind: Schema.String, name: Schema.optional(Schema.String) })

/** @category schemas */
export const ScopeRulePayload = Schema.Struct({
  target: Schema.String,
  permission: Schema.String,
  recursive: Schema.optional(Schema.Boolean)
})

/** @category schemas */
export const CreateWorkerRequest = Schema.Struct({
  displayName: Schema.optional(Schema.String),
  /** Defaults to `{ kind: "runtime_default" }`. */
  profile: Schema.optional(ProfileSelectorPayload),
  configBundle: Schema.optional(Schema.Struct({ id: Schema.String, digest: Schema.String })),
  requestedCapabilities: Schema.optional(Schema.Array(Schema.String)),
  scope: Schema.optional(Schema.Array(ScopeRulePayload)),
  initialInput: Schema.optional(UserInputPayload),
  idempotencyKey: Schema.optional(Schema.String)
})
/** @category models */
export type CreateWorkerRequest = typeof CreateWorkerRequest.Type

/** @category schemas */
export const SendInputRequest = Schema.Struct({
  workerId: Schema.String,
  input: UserInputPayload,
  /** `reject` (default) | `enqueue` | `interrupt`. */
  whenBusy: Schema.optional(Schema.String),
  idempotencyKey: Schema.optional(Schema.String)
})
/** @category models */
export type SendInputRequest = typeof SendInputRequest.Type

/** @category schemas */
export const ListWorkersRequest = Schema.Struct({
  status: Schema.optional(Schema.String),
  limit: Schema.optional(Schema.Number),
  cursor: Schema.optional(Schema.String)
})
/** @category models */
export type ListWorkersRequest = typeof ListWorkersRequest.Type

/** @category schemas */
export const ReasonPayload = Schema.Struct({ workerId: Schema.String, reason: Schema.optional(Schema.String) })
/** @category models */
export type ReasonPayload = typeof ReasonPayload.Type

/** @category schemas */
export const CancelQueuedRequest = Schema.Struct({ workerId: Schema.String, inputId: Schema.String })
/** @category models */
export type CancelQueuedRequest = typeof CancelQueuedRequest.Type

/** @category schemas */
export const GetTranscriptRequest = Schema.Struct({
  workerId: Schema.String,
  before: Schema.optional(Schema.Number),
  after: Schema.optional(Schema.Number),
  /** 1-200, default 50. */
  limit: Schema.optional(Schema.Number)
})
/** @category models */
export type GetTranscriptRequest = typeof GetTranscriptRequest.Type

/** @category schemas */
export const WatchWorkerRequest = Schema.Struct({ workerId: Schema.String, after: Schema.optional(Schema.Number) })
/** @category models */
export type WatchWorkerRequest = typeof WatchWorkerRequest.Type

/** @category schemas */
export const WatchRuntimeRequest = Schema.Struct({ after: Schema.optional(Schema.Number) })
/** @category models */
export type WatchRuntimeRequest = typeof WatchRuntimeRequest.Type

/** @category schemas */
export const GetUsageRequest = Schema.Struct({ workerId: Schema.optional(Schema.String) })
/** @category models */
export type GetUsageRequest = typeof GetUsageRequest.Type

/**
 * The input is accepted: it is in the event log (and, when `started`, in the transcript with a run in flight).
 * `transcriptSeq` is absent for a queued input: it enters the transcript when its run starts.
 * @category models
 */
export class InputAccepted extends Schema.Class<InputAccepted>("@yoi/domain/InputAccepted")({
  inputId: Schema.String,
  runId: Schema.String,
  status: Schema.Literals(["started", "queued"]),
  transcriptSeq: Schema.optional(Schema.Number),
  eventSeq: Schema.Number
}) {}

/** @category models */
export class CreatedWorker extends Schema.Class<CreatedWorker>("@yoi/domain/CreatedWorker")({
  worker: WorkerDetail,
  input: Schema.optional(InputAccepted)
}) {}

/** @category models */
export class CancelRunResult extends Schema.Class<CancelRunResult>("@yoi/domain/CancelRunResult")({
  outcome: Schema.Literals(["cancelled", "not_running"]),
  runId: Schema.optional(Schema.String)
}) {}

/** @category models */
export class CancelQueuedResult extends Schema.Class<CancelQueuedResult>("@yoi/domain/CancelQueuedResult")({
  outcome: Schema.Literals(["cancelled", "not_queued"])
}) {}

/** @category models */
export class StopWorkerResult extends Schema.Class<StopWorkerResult>("@yoi/domain/StopWorkerResult")({
  outcome: Schema.Literals(["stopped", "already_stopped"]),
  cancelledRunId: Schema.optional(Schema.String),
  droppedQueued: Schema.Number
}) {}
