/**
 * The RuntimeRegistry: a backend's one routing boundary over its runtimes — embedded (in-process RPC client),
 * remote (HTTP RPC client) and a read-only legacy pod projection. It resolves `runtimeId + workerId`, asks the
 * `Policy`, reports to the `Audit`, and returns browser-safe `Views` only.
 *
 * **Details** Every source is one `SourceClient` (configured as a `RegistrySource`), so routing never branches on
 * transport. Health is the sources' (`internal/sources.ts`); every call follows one rule (`internal/routing.ts`):
 * an unavailable runtime fails fast with `RuntimeUnavailable`, an outage a call meets marks it unavailable, and
 * anything else fails that call only. Lists across runtimes query every source in parallel, each within
 * `listTimeout`, and return the others' results. Input text longer than the runtime's advertised
 * `limits.maxInputChars` is an `InvalidRequest` before anything is sent. Errors: the registry's (`RegistryErrors`,
 * `UnexpectedAnswer`) plus the runtime's own, passed through unchanged.
 *
 * Deliberately not here: running Workers, Worker storage, scope allocation (the runtimes own those).
 */
import { Errors, Ids, type Requests, type RuntimeEvent } from "@yoi/domain"
import { Cause, Clock, Context, Duration, Effect, Layer, Option, Stream } from "effect"
import * as Audit from "./Audit.ts"
import * as Routing from "./internal/routing.ts"
import * as Sources from "./internal/sources.ts"
import * as Policy from "./Policy.ts"
import * as RegistryErrors from "./RegistryErrors.ts"
import type * as RegistrySource from "./RegistrySource.ts"
import type * as SourceClient from "./SourceClient.ts"
import * as Views from "./Views.ts"

/** Every error a registry call can end with: the runtime's own (passed through) and the registry's. @category models */
export type RegistryError =
  | Exclude<SourceClient.SourceError, SourceClient.TransportFailure>
  | RegistryErrors.UnknownRuntime
  | RegistryErrors.RuntimeUnavailable
  | RegistryErrors.WorkerNotVisible

/** @category models */
export interface WorkerRef {
  readonly runtimeId: string
  readonly workerId: string
}

/** @category models */
export interface ListWorkersOptions {
  readonly runtimeId?: string | undefined
  readonly status?: string | undefined
  /** Per runtime (default 100, at most 200). */
  readonly limit?: number | undefined
}

/** @category models */
export interface SendInputOptions {
  readonly text: string
  readonly whenBusy?: string | undefined
  readonly idempotencyKey?: string | undefined
}

/** @category models */
export interface TranscriptQuery {
  readonly before?: number | undefined
  readonly after?: number | undefined
  readonly limit?: number | undefined
}

/** @category services */
export class RuntimeRegistry extends Context.Service<RuntimeRegistry, {
  listRuntimes(viewer: Policy.Viewer): Effect.Effect<ReadonlyArray<Views.RuntimeView>>
  getRuntime(viewer: Policy.Viewer, runtimeId: string): Effect.Effect<Views.RuntimeView, RegistryError>
  listWorkers(viewer: Policy.Viewer, options: ListWorkersOptions): Effect.Effect<Views.WorkerListView, RegistryError>
  getWorker(viewer: Policy.Viewer, ref: WorkerRef): Effect.Effect<Views.WorkerView, RegistryError>
  createWorker(
    viewer: Policy.Viewer,
    runtimeId: string,
    request: Requests.CreateWorkerRequest
  ): Effect.Effect<Views.CreatedWorkerView, RegistryError>
  sendInput(
    viewer: Policy.Viewer,
    ref: WorkerRef,
    input: SendInputOptions
  ): Effect.Effect<Views.InputAcceptedView, RegistryError>
  cancelRun(viewer: Policy.Viewer, ref: WorkerRef, reason?: string): Effect.Effect<Views.CancelView, RegistryError>
  stopWorker(viewer: Policy.Viewer, ref: WorkerRef, reason?: string): Effect.Effect<Views.StopView, RegistryError>
  getTranscript(
    viewer: Policy.Viewer,
    ref: WorkerRef,
    query: TranscriptQuery
  ): Effect.Effect<Views.TranscriptView, RegistryError>
  /** A snapshot, then every event after `after`, then live (the Runtime's `WatchWorker`). */
  watchWorker(
    viewer: Policy.Viewer,
    ref: WorkerRef,
    after?: number
  ): Stream.Stream<RuntimeEvent.WorkerWatchItem, RegistryError>
  getUsage(viewer: Policy.Viewer, ref: WorkerRef): Effect.Effect<Views.UsageReportView, RegistryError>
}>()("@yoi/registry/RuntimeRegistry") {}

/** @category models */
export interface Options {
  readonly sources: ReadonlyArray<RegistrySource.SourceConfig>
  /** Bound on one call to a runtime (default 5 s); past it the call fails with `RuntimeUnavailable(timeout)`. */
  readonly callTimeout?: Duration.Input | undefined
  /** Bound on each runtime's part of a list across runtimes (default 2 s). */
  readonly listTimeout?: Duration.Input | undefined
  /** How often runtimes are probed to keep their health current (default 5 s). */
  readonly healthInterval?: Duration.Input | undefined
}

const target = (source: Sources.Source, workerId?: string): Policy.Target => ({
  runtimeId: source.runtimeId,
  workspace: source.workspace,
  ...(workerId !== undefined ? { workerId } : {})
})

/** The runtime's own length check, made here so that a text it would refuse is never sent. */
const checkText = (source: Sources.Source, field: string, text: string | undefined) => {
  const max = source.health.probe?.maxInputChars
  return max !== undefined && text !== undefined && text.length > max
    ? Effect.fail(new Errors.InvalidRequest({ field, message: `must be at most ${max} characters` }))
    : Effect.void
}

/**
 * Builds the registry: builds its sources in the registry's scope, probes them once and keeps probing in the
 * background.
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: Options) {
  const policy = yield* Policy.Policy
  const audit = yield* Audit.Audit
  const callTimeout = Duration.fromInputUnsafe(options.callTimeout ?? "5 seconds")
  const listTimeout = Duration.fromInputUnsafe(options.listTimeout ?? "2 seconds")
  const healthInterval = Duration.fromInputUnsafe(options.healthInterval ?? "5 seconds")
  // a list's part is one call bounded by both: whichever is shorter is the one that fires
  const listCallTimeout = Duration.min(callTimeout, listTimeout)

  const all = yield* Sources.make(options.sources, callTimeout)
  const sources = new Map(all.map((source) => [source.runtimeId, source]))
  yield* Sources.keepHealth(all, { callTimeout, healthInterval })

  // ---- resolution, policy, audit ----------------------------------------------------------------------------

  const resolve = (viewer: Policy.Viewer, runtimeId: string) =>
    Effect.gen(function*() {
      const id = yield* Ids.parse(Ids.RuntimeId, "runtimeId", runtimeId)
      const source = sources.get(id)
      if (source === undefined || !policy.canSee(viewer, target(source))) {
        return yield* new RegistryErrors.UnknownRuntime({ runtimeId: id })
      }
      return source
    })

  const resolveWorker = (viewer: Policy.Viewer, ref: WorkerRef, action: Policy.Action) =>
    Effect.gen(function*() {
      const source = yield* resolve(viewer, ref.runtimeId)
      const workerId = yield* Ids.parse(Ids.WorkerId, "workerId", ref.workerId)
      const t = target(source, workerId)
      if (!policy.canSee(viewer, t) || (action !== "read" && !policy.canAct(viewer, action, t))) {
        return yield* new RegistryErrors.WorkerNotVisible({ runtimeId: source.runtimeId, workerId })
      }
      return { source, workerId }
    })

  /** One call to a source under the routing rule, bounded by `callTimeout`. */
  const call = <A, E>(source: Sources.Source, f: (client: SourceClient.SourceClient) => Effect.Effect<A, E>) =>
    Routing.call(source, callTimeout, Effect.suspend(() => f(source.client)))

  const audited = <A, E>(
    viewer: Policy.Viewer,
    action: Policy.Action,
    ref: { readonly runtimeId: string; readonly workerId?: string | undefined },
    effect: Effect.Effect<A, E>
  ) =>
    Effect.onExit(effect, (exit) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        audit.record({
          at,
          viewer: viewer.id,
          action,
          runtimeId: ref.runtimeId,
          workerId: ref.workerId,
          outcome: exit._tag === "Success"
            ? "ok"
            : Option.match(Cause.findErrorOption(exit.cause), {
              onNone: () => "defect",
              onSome: (error) =>
                typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "error"
            })
        })))

  // ---- lists across runtimes ------------------------------------------------------------------------------------

  const visibleSources = (viewer: Policy.Viewer) => all.filter((source) => policy.canSee(viewer, target(source)))

  const listWorkers = (viewer: Policy.Viewer, options: ListWorkersOptions) =>
    Effect.gen(function*() {
      const limit = options.limit ?? 100
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
        return yield* new Errors.InvalidRequest({ field: "limit", message: "must be between 1 and 200" })
      }
      const selected = options.runtimeId === undefined
        ? visibleSources(viewer)
        : [yield* resolve(viewer, options.runtimeId)]
      const parts = yield* Effect.forEach(selected, (source) =>
        Routing.call(
          source,
          listCallTimeout,
          Effect.suspend(() => source.client.listWorkers({ limit, status: options.status }))
        ).pipe(
          Effect.result,
          Effect.map((result) => ({ source, result }))
        ), { concurrency: "unbounded" })
      const workers: Array<Views.WorkerView> = []
      const runtimes: Array<Views.RuntimeListState> = []
      for (const { source, result } of parts) {
        if (result._tag === "Success") {
          for (const worker of result.success) {
            if (policy.canSee(viewer, target(source, worker.workerId))) {
              workers.push(worker)
            }
          }
          runtimes.push(Views.answeredListState(source.runtimeId))
        } else if (result.failure._tag === "RuntimeUnavailable" || options.runtimeId === undefined) {
          // across runtimes, one runtime's failure is a diagnostic, not the list's failure
          if (options.runtimeId !== undefined) {
            return yield* Effect.fail(result.failure)
          }
          runtimes.push(Views.failedListState(Sources.runtimeView(source)))
        } else {
          return yield* Effect.fail(result.failure)
        }
      }
      return { workers, runtimes }
    })

  return RuntimeRegistry.of({
    listRuntimes: (viewer) => Effect.sync(() => visibleSources(viewer).map(Sources.runtimeView)),
    getRuntime: (viewer, runtimeId) => Effect.map(resolve(viewer, runtimeId), Sources.runtimeView),
    listWorkers,
    getWorker: (viewer, ref) =>
      Effect.flatMap(
        resolveWorker(viewer, ref, "read"),
        ({ source, workerId }) => call(source, (client) => client.getWorker(workerId))
      ),
    createWorker: (viewer, runtimeId, request) =>
      audited(
        viewer,
        "create",
        { runtimeId },
        Effect.gen(function*() {
          const source = yield* resolve(viewer, runtimeId)
          if (!policy.canAct(viewer, "create", target(source))) {
            return yield* new RegistryErrors.UnknownRuntime({ runtimeId: source.runtimeId })
          }
          yield* checkText(source, "initialInput.text", request.initialInput?.text)
          return yield* call(source, (client) => client.createWorker(request))
        })
      ),
    sendInput: (viewer, ref, input) =>
      audited(
        viewer,
        "input",
        ref,
        Effect.flatMap(resolveWorker(viewer, ref, "input"), ({ source, workerId }) =>
          Effect.andThen(
            checkText(source, "input.text", input.text),
            call(source, (client) => client.sendInput(workerId, input))
          ))
      ),
    cancelRun: (viewer, ref, reason) =>
      audited(
        viewer,
        "cancel",
        ref,
        Effect.flatMap(resolveWorker(viewer, ref, "cancel"), ({ source, workerId }) =>
          call(source, (client) => client.cancelRun(workerId, reason)))
      ),
    stopWorker: (viewer, ref, reason) =>
      audited(
        viewer,
        "stop",
        ref,
        Effect.flatMap(resolveWorker(viewer, ref, "stop"), ({ source, workerId }) =>
          call(source, (client) => client.stopWorker(workerId, reason)))
      ),
    getTranscript: (viewer, ref, query) =>
      Effect.flatMap(
        resolveWorker(viewer, ref, "read"),
        ({ source, workerId }) => call(source, (client) => client.getTranscript(workerId, query))
      ),
    watchWorker: (viewer, ref, after) =>
      Effect.map(
        resolveWorker(viewer, ref, "read"),
        ({ source, workerId }) => Routing.stream(source, source.client.watchWorker(workerId, after))
      ).pipe(Stream.unwrap),
    getUsage: (viewer, ref) =>
      Effect.flatMap(
        resolveWorker(viewer, ref, "read"),
        ({ source, workerId }) => call(source, (client) => client.getUsage(workerId))
      )
  })
})

/**
 * The registry with its sources; needs a `Policy` and an `Audit` (a legacy source brings its own `LegacyPods`).
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<RuntimeRegistry, never, Policy.Policy | Audit.Audit> =>
  Layer.effect(RuntimeRegistry, make(options))
