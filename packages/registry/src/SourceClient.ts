/**
 * What the registry needs of one runtime source, in browser-safe views. `fromRuntimeClient` adapts a
 * `RuntimeClient` — embedded and remote alike, so routing never branches on transport; the legacy projection is
 * another implementation whose commands are `OperationUnsupported`.
 *
 * **Details** A failed exchange is sorted by what it says about the runtime (`HttpRuntimeClient.classify`):
 * - an outage — connection refused, a network error, no answer in time, or a gateway's 502/503/504 saying the
 *   runtime behind it is not there — or a rejection of the registry's credentials (401/403 or `Unauthorized`) is a
 *   `TransportFailure`; the registry turns it into `RuntimeUnavailable` and marks the source unavailable;
 * - any other 4xx (e.g. a proxy's 413) is the request's fault: an `InvalidRequest`, health untouched;
 * - any other answer outside the protocol (a 500, a cut-off or undecodable answer) is an `UnexpectedAnswer` for
 *   this call only: one bad exchange does not take a runtime away from everyone. If the runtime really is broken,
 *   the next health probe, which takes any failure for unavailability, marks it.
 *
 * The runtime's own typed errors pass through unchanged and never touch health.
 */
import { Errors, HttpRuntimeClient, type Requests, type RuntimeClient, type RuntimeEvent } from "@yoi/domain"
import { Data, Effect, Predicate, Stream } from "effect"
import type { RpcClientError } from "effect/rpc"
import type * as RegistryErrors from "./RegistryErrors.ts"
import * as Views from "./Views.ts"

/**
 * The source is down (`unreachable`, `timeout`) or rejects the registry's credentials (`unauthorized`).
 * @category errors
 */
export class TransportFailure extends Data.TaggedError("TransportFailure")<{
  readonly reason: RegistryErrors.RuntimeUnavailable["reason"]
}> {}

/**
 * The runtime answered one call outside the protocol (an HTTP status it does not use, a cut-off or undecodable
 * answer). Only this call failed; the runtime is not known to be down. `status` is the HTTP status, if any.
 * @category errors
 */
export class UnexpectedAnswer extends Data.TaggedError("UnexpectedAnswer")<{
  readonly runtimeId: string
  readonly status?: number | undefined
}> {}

/** Runtime-side errors a source passes through unchanged. @category models */
export type SourceError =
  | TransportFailure
  | UnexpectedAnswer
  | RegistryErrors.UnknownWorker
  | RegistryErrors.OperationUnsupported
  | Errors.InvalidRequest
  | Errors.WorkerNotFound
  | Errors.WorkerBusy
  | Errors.WorkerStopped
  | Errors.QueueFull
  | Errors.InvalidProfile
  | Errors.ScopeConflict
  | Errors.ExecutionUnavailable
  | Errors.CursorOutOfRange
  | Errors.SubscriberLagged
  | Errors.RuntimeStopping
  | Errors.StoreFailure

/** @category models */
export interface Probe {
  readonly counts?: Views.RuntimeView["counts"] | undefined
  /** The runtime's advertised `limits.maxInputChars`, when it has one. */
  readonly maxInputChars?: number | undefined
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

/** What a failed exchange says about the runtime (see the module docs). */
const classifyFailure = (
  error: RpcClientError.RpcClientError,
  runtimeId: string
): TransportFailure | Errors.InvalidRequest | UnexpectedAnswer => {
  const failure = HttpRuntimeClient.classify(error)
  switch (failure.reason) {
    case "refused":
    case "network":
      return new TransportFailure({ reason: "unreachable" })
    case "timeout":
      return new TransportFailure({ reason: "timeout" })
    case "protocol":
      return new UnexpectedAnswer({ runtimeId })
    case "status": {
      const status = failure.status
      if (status === 401 || status === 403) return new TransportFailure({ reason: "unauthorized" })
      if (status === 502 || status === 503) return new TransportFailure({ reason: "unreachable" })
      if (status === 504) return new TransportFailure({ reason: "timeout" })
      if (status >= 400 && status < 500) {
        return new Errors.InvalidRequest({ field: "request", message: `the runtime refused it (HTTP ${status})` })
      }
      return new UnexpectedAnswer({ runtimeId, status })
    }
  }
}

type Classified = ReturnType<typeof classifyFailure>
type Transported = RpcClientError.RpcClientError | Errors.Unauthorized
type Sorted<E> = Exclude<E, Transported> | Classified

const isTransported = <E>(error: E): error is Extract<E, Transported> =>
  Predicate.isTagged(error, "RpcClientError") || Predicate.isTagged(error, "Unauthorized")

const sort = (error: Transported, runtimeId: string): Classified =>
  error._tag === "Unauthorized"
    ? new TransportFailure({ reason: "unauthorized" })
    : classifyFailure(error, runtimeId)

/** Sorts a call's transport errors and the runtime's rejection of our credentials (see the module docs). */
const transport = <A, E>(runtimeId: string, effect: Effect.Effect<A, E>): Effect.Effect<A, Sorted<E>> =>
  // the guard narrows `E` in its true branch only; the other branch is `Exclude<E, Transported>` by construction
  Effect.mapError(effect, (error) => isTransported(error) ? sort(error, runtimeId) : error) as Effect.Effect<
    A,
    Sorted<E>
  >

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
  // the probe is the judge of health: whatever keeps it from reading the summary makes the runtime unavailable
  probe: transport(runtimeId, client.GetRuntime()).pipe(
    Effect.map((summary): Probe => ({
      maxInputChars: summary.limits.maxInputChars,
      counts: Views.countsView(summary.counts),
      diagnostics: summary.diagnostics.slice(0, 16).map((d) => Views.diagnosticView(d.level, d.code, d.message))
    })),
    Effect.catchTag(
      "StoreFailure",
      () =>
        Effect.succeed({
          diagnostics: [Views.diagnosticView("error", "runtime_store_failure", "the runtime's store failed")]
        })
    ),
    Effect.catchTags({
      InvalidRequest: () => Effect.fail(new TransportFailure({ reason: "unreachable" })),
      UnexpectedAnswer: () => Effect.fail(new TransportFailure({ reason: "unreachable" }))
    })
  ),
  listWorkers: (options) =>
    transport(runtimeId, client.ListWorkers({ limit: options.limit, ...defined("status", options.status) })).pipe(
      Effect.map((page) => page.workers.map((w) => Views.workerView(w, runtimeId, implementation)))
    ),
  getWorker: (workerId) =>
    transport(runtimeId, client.GetWorker({ workerId })).pipe(
      Effect.map((w) => Views.workerView(w, runtimeId, implementation))
    ),
  createWorker: (request) =>
    transport(runtimeId, client.CreateWorker(request)).pipe(
      Effect.map((created) => Views.createdWorkerView(created, runtimeId, implementation))
    ),
  sendInput: (workerId, input) =>
    transport(
      runtimeId,
      client.SendInput({
        workerId,
        input: { kind: "user", text: input.text },
        ...defined("whenBusy", input.whenBusy),
        ...defined("idempotencyKey", input.idempotencyKey)
      })
    ).pipe(Effect.map(Views.inputAcceptedView)),
  cancelRun: (workerId, reason) =>
    transport(runtimeId, client.CancelRun({ workerId, ...defined("reason", reason) })).pipe(
      Effect.map(Views.cancelView)
    ),
  stopWorker: (workerId, reason) =>
    transport(runtimeId, client.StopWorker({ workerId, ...defined("reason", reason) })).pipe(
      Effect.map(Views.stopView)
    ),
  getTranscript: (workerId, query) =>
    transport(
      runtimeId,
      client.GetTranscript({
        workerId,
        ...defined("before", query.before),
        ...defined("after", query.after),
        ...defined("limit", query.limit)
      })
    ).pipe(Effect.map(Views.transcriptView)),
  watchWorker: (workerId, after) =>
    client.WatchWorker({ workerId, ...defined("after", after) }).pipe(
      Stream.catchTags({
        RpcClientError: (error) => Stream.fail(classifyFailure(error, runtimeId)),
        Unauthorized: () => Stream.fail(new TransportFailure({ reason: "unauthorized" }))
      })
    ),
  getUsage: (workerId) =>
    transport(runtimeId, client.GetUsage({ workerId })).pipe(
      Effect.map((report) => Views.usageReportView(runtimeId, workerId, report))
    )
})
