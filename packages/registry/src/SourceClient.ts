/**
 * What the registry needs of one runtime source, in browser-safe views. `fromRuntimeClient` adapts a
 * `RuntimeClient` — embedded and remote alike, so routing never branches on transport; the legacy projection is
 * another implementation whose commands are `OperationUnsupported`.
 *
 * A `TransportFailure` says the source could not be reached or rejected the registry's credentials; the registry
 * turns it into `RuntimeUnavailable` and marks the source unavailable.
 */
import type { Errors, Requests, RuntimeClient, RuntimeEvent } from "@yoi/domain"
import { Data, Effect, Stream } from "effect"
import * as Views from "./Views.ts"

/** @category errors */
export class TransportFailure extends Data.TaggedError("TransportFailure")<{
  readonly reason: "unreachable" | "unauthorized"
}> {}

/** Runtime-side errors a source passes through unchanged. @category models */
export type SourceError =
  | TransportFailure
  | Errors.UnknownWorker
  | Errors.OperationUnsupported
  | Errors.InvalidRequest
  | Errors.WorkerNotFound
  | Errors.WorkerBusy
  | Errors.WorkerStopped
  | Errors.QueueFull
  | Errors.InvalidProfile
  | Errors.ScopeConflict
  | Errors.CursorOutOfRange
  | Errors.SubscriberLagged
  | Errors.RuntimeStopping
  | Errors.StoreFailure

/** @category models */
export interface Probe {
  readonly counts?: Views.RuntimeView["counts"] | undefined
  readonly diagnostics: ReadonlyArray<Views.DiagnosticView>
}

/** @category models */
export interface SourceClient {
  readonly capabilities: Views.RuntimeView["capabilities"]
  readonly probe: Effect.Effect<Probe, TransportFailure>
  listWorkers(options: {
    readonly status?: string | undefined
    readonly limit: number
  }): Effect.Effect<ReadonlyArray<Views.WorkerView>, SourceError>
  getWorker(workerId: string): Effect.Effect<Views.WorkerView, SourceError>
  createWorker(request: Requests.CreateWorkerRequest): Effect.Effect<Views.CreatedWorkerView, SourceError>
  sendInput(
    workerId: string,
    input: {
      readonly text: string
      readonly whenBusy?: string | undefined
      readonly idempotencyKey?: string | undefined
    }
  ): Effect.Effect<Views.InputAcceptedView, SourceError>
  cancelRun(workerId: string, reason?: string): Effect.Effect<Views.CancelView, SourceError>
  stopWorker(workerId: string, reason?: string): Effect.Effect<Views.StopView, SourceError>
  getTranscript(
    workerId: string,
    query: {
      readonly before?: number | undefined
      readonly after?: number | undefined
      readonly limit?: number | undefined
    }
  ): Effect.Effect<Views.TranscriptView, SourceError>
  watchWorker(workerId: string, after: number | undefined): Stream.Stream<RuntimeEvent.WorkerWatchItem, SourceError>
  getUsage(workerId: string): Effect.Effect<Views.UsageReportView, SourceError>
}

/** Transport failures and the runtime's rejection of our credentials become `TransportFailure`. */
const transport = <A, E>(
  effect: Effect.Effect<A, E>
): Effect.Effect<A, Exclude<E, { readonly _tag: "RpcClientError" | "Unauthorized" }> | TransportFailure> =>
  Effect.catchIf(
    effect,
    (error): error is Extract<E, { readonly _tag: "RpcClientError" | "Unauthorized" }> =>
      typeof error === "object" && error !== null && "_tag" in error &&
      (error._tag === "RpcClientError" || error._tag === "Unauthorized"),
    (error) =>
      Effect.fail(new TransportFailure({ reason: error._tag === "Unauthorized" ? "unauthorized" : "unreachable" }))
  ) as Effect.Effect<A, Exclude<E, { readonly _tag: "RpcClientError" | "Unauthorized" }> | TransportFailure>

const defined = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }

/**
 * A source over a `RuntimeClient` (embedded or remote: the same code path).
 * @category constructors
 */
export const fromRuntimeClient = (
  client: RuntimeClient.RuntimeClientApi,
  runtimeId: string,
  implementation: Views.Implementation
): SourceClient => ({
  capabilities: { canCreateWorkers: true, canAcceptInput: true, canStreamEvents: true },
  probe: transport(client.GetRuntime()).pipe(
    Effect.map((summary) => ({
      counts: {
        idle: summary.counts.idle,
        running: summary.counts.running,
        stopped: summary.counts.stopped,
        failed: summary.counts.failed,
        total: summary.counts.total
      },
      diagnostics: summary.diagnostics.slice(0, 16).map((d) => Views.diagnosticView(d.level, d.code, d.message))
    })),
    Effect.catchTag(
      "StoreFailure",
      () =>
        Effect.succeed({
          diagnostics: [Views.diagnosticView("error", "runtime_store_failure", "the runtime's store failed")]
        })
    )
  ),
  listWorkers: (options) =>
    transport(client.ListWorkers({ limit: options.limit, ...defined("status", options.status) })).pipe(
      Effect.map((page) => page.workers.map((w) => Views.workerView(w, runtimeId, implementation)))
    ),
  getWorker: (workerId) =>
    transport(client.GetWorker({ workerId })).pipe(Effect.map((w) => Views.workerView(w, runtimeId, implementation))),
  createWorker: (request) =>
    transport(client.CreateWorker(request)).pipe(
      Effect.map((created) => ({
        worker: Views.workerView(created.worker, runtimeId, implementation),
        ...(created.input !== undefined ? { input: Views.inputAcceptedView(created.input) } : {})
      }))
    ),
  sendInput: (workerId, input) =>
    transport(client.SendInput({
      workerId,
      input: { kind: "user", text: input.text },
      ...defined("whenBusy", input.whenBusy),
      ...defined("idempotencyKey", input.idempotencyKey)
    })).pipe(Effect.map(Views.inputAcceptedView)),
  cancelRun: (workerId, reason) =>
    transport(client.CancelRun({ workerId, ...defined("reason", reason) })).pipe(
      Effect.map((r) => ({ outcome: r.outcome, ...defined("runId", r.runId) }))
    ),
  stopWorker: (workerId, reason) =>
    transport(client.StopWorker({ workerId, ...defined("reason", reason) })).pipe(
      Effect.map((r) => ({ outcome: r.outcome, droppedQueued: r.droppedQueued }))
    ),
  getTranscript: (workerId, query) =>
    transport(client.GetTranscript({
      workerId,
      ...defined("before", query.before),
      ...defined("after", query.after),
      ...defined("limit", query.limit)
    })).pipe(Effect.map(Views.transcriptView)),
  watchWorker: (workerId, after) =>
    client.WatchWorker({ workerId, ...defined("after", after) }).pipe(
      Stream.catchTags({
        RpcClientError: () => Stream.fail(new TransportFailure({ reason: "unreachable" })),
        Unauthorized: () => Stream.fail(new TransportFailure({ reason: "unauthorized" }))
      })
    ),
  getUsage: (workerId) =>
    transport(client.GetUsage({ workerId })).pipe(
      Effect.map((report) => ({ runtimeId, workerId, usage: Views.usageView(report.usage) }))
    )
})
