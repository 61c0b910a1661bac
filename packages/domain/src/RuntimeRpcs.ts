/**
 * The Runtime protocol: the one `RpcGroup` every caller of a Runtime uses, embedded (in-process, no serialization)
 * or over HTTP (ndjson, so streaming RPCs stream). There is no second hand-written API for runtimes.
 *
 * Split by responsibility: management (`GetRuntime`, `WatchRuntime`), catalog/lifecycle (`ListWorkers`,
 * `GetWorker`, `CreateWorker`, `StopWorker`), interaction (`SendInput`, `CancelRun`, `CancelQueued`) and
 * observation (`GetTranscript`, `WatchWorker`, `GetUsage`).
 */
import { Schema } from "effect"
import { Rpc, RpcGroup, RpcMiddleware } from "effect/rpc"
import {
  CursorOutOfRange,
  ExecutionUnavailable,
  InvalidProfile,
  InvalidRequest,
  QueueFull,
  RuntimeStopping,
  ScopeConflict,
  StoreFailure,
  SubscriberLagged,
  Unauthorized,
  WorkerBusy,
  WorkerNotFound,
  WorkerStopped
} from "./Errors.ts"
import {
  CancelQueuedRequest,
  CancelQueuedResult,
  CancelRunResult,
  CreatedWorker,
  CreateWorkerRequest,
  GetTranscriptRequest,
  GetUsageRequest,
  InputAccepted,
  ListWorkersRequest,
  ReasonPayload,
  SendInputRequest,
  StopWorkerResult,
  WatchRuntimeRequest,
  WatchWorkerRequest,
  WorkerIdPayload
} from "./Requests.ts"
import { RuntimeWatchItem, WorkerWatchItem } from "./RuntimeEvent.ts"
import { RuntimeSummary, UsageReport } from "./RuntimeInfo.ts"
import { TranscriptPage } from "./Transcript.ts"
import { WorkerDetail, WorkerPage } from "./Worker.ts"

const command = [InvalidRequest, WorkerNotFound, RuntimeStopping, StoreFailure] as const

/**
 * Authentication of every Runtime RPC. The HTTP server checks a bearer token (from the request headers); the
 * embedded client admits every call (it has no transport to authenticate). Failing it is a typed `Unauthorized`.
 * @category rpc
 */
export class RuntimeAuth extends RpcMiddleware.Service<RuntimeAuth>()("@yoi/domain/RuntimeAuth", {
  error: Unauthorized
}) {}

/**
 * What a runtime answers a `POST /rpc` body it refuses as a whole (before any RPC runs) with, as the JSON body of an
 * HTTP 4xx: a malformed, oversized or mistyped body is `InvalidRequest`, missing credentials `Unauthorized`.
 * @category schemas
 */
export const BodyRejection = Schema.Union([InvalidRequest, Unauthorized])

/** @category rpc */
/** The prefix of every RPC's span name, on every transport: `RuntimeRpcs.CreateWorker`, … @category constants */
export const spanPrefix = "RuntimeRpcs"

export class RuntimeRpcs extends RpcGroup.make(
  Rpc.make("GetRuntime", { success: RuntimeSummary, error: StoreFailure }),
  Rpc.make("WatchRuntime", {
    payload: WatchRuntimeRequest,
    success: RuntimeWatchItem,
    error: Schema.Union([InvalidRequest, CursorOutOfRange, SubscriberLagged]),
    stream: true
  }),
  Rpc.make("ListWorkers", {
    payload: ListWorkersRequest,
    success: WorkerPage,
    error: Schema.Union([InvalidRequest, StoreFailure])
  }),
  Rpc.make("GetWorker", {
    payload: WorkerIdPayload,
    success: WorkerDetail,
    error: Schema.Union([InvalidRequest, WorkerNotFound])
  }),
  Rpc.make("CreateWorker", {
    payload: CreateWorkerRequest,
    success: CreatedWorker,
    error: Schema.Union([
      InvalidRequest,
      InvalidProfile,
      ScopeConflict,
      ExecutionUnavailable,
      RuntimeStopping,
      StoreFailure
    ])
  }),
  Rpc.make("StopWorker", { payload: ReasonPayload, success: StopWorkerResult, error: Schema.Union(command) }),
  Rpc.make("SendInput", {
    payload: SendInputRequest,
    success: InputAccepted,
    error: Schema.Union([...command, WorkerBusy, WorkerStopped, QueueFull])
  }),
  Rpc.make("CancelRun", { payload: ReasonPayload, success: CancelRunResult, error: Schema.Union(command) }),
  Rpc.make("CancelQueued", {
    payload: CancelQueuedRequest,
    success: CancelQueuedResult,
    error: Schema.Union(command)
  }),
  Rpc.make("GetTranscript", {
    payload: GetTranscriptRequest,
    success: TranscriptPage,
    error: Schema.Union([InvalidRequest, WorkerNotFound, StoreFailure])
  }),
  Rpc.make("WatchWorker", {
    payload: WatchWorkerRequest,
    success: WorkerWatchItem,
    error: Schema.Union([InvalidRequest, WorkerNotFound, CursorOutOfRange, SubscriberLagged, StoreFailure]),
    stream: true
  }),
  Rpc.make("GetUsage", {
    payload: GetUsageRequest,
    success: UsageReport,
    error: Schema.Union([InvalidRequest, WorkerNotFound])
  })
).middleware(RuntimeAuth) {}
